package cfapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// cc is a small typed client for the few Cloud Controller V3 calls maintpage makes. It replaces
// go-cfclient, whose client package imports its test helpers from a non-test file and so linked
// martini and testify into the binary. Requests carry no token here: the transport under the
// http.Client adds it and renews it (see auth.go).
type cc struct {
	hc  *http.Client
	api *url.URL
	// perPage is the page size asked for in lists: CC's largest (5000, cloud_controller_ng:
	// app/messages/list_message.rb), so that most lists take one request; tests make it small.
	perPage int
}

// maxBody bounds what is read of one CC answer; a page of 5000 routes with metadata fits.
const maxBody = 64 << 20

// do sends one request and decodes a 2xx answer into out (when not nil). A CC error comes back as
// a *CCError with CC's code, title and detail.
func (c *cc) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.api
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	return c.doURL(ctx, method, &u, body, out)
}

func (c *cc) doURL(ctx context.Context, method string, u *url.URL, body, out any) error {
	var rd io.Reader
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "maintpage")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		// The transport may send the body again (a retry, a renewed token).
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, u.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ccErrorFrom(resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, u.Path, err)
	}
	return nil
}

// unwrapURLError drops net/http's "Get URL:" layer when the cause is ours (token renewal, a
// context), so that messages do not repeat the request path.
func unwrapURLError(err error) error {
	var ue *url.Error
	var te *tokenError
	if errors.As(err, &ue) && errors.As(ue.Err, &te) {
		return te
	}
	return err
}

// ccErrorFrom reads CC's V3 error document, {"errors":[{"code":…,"title":"CF-…","detail":…}]}
// (cloud_controller_ng: lib/cloud_controller/errors/v3/api_error.rb and the presenter of errors);
// anything else (a router's 502 page) is kept as the HTTP status and the start of its body.
func ccErrorFrom(status int, data []byte) error {
	var doc struct {
		Errors []struct {
			Code   int    `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(data, &doc) == nil && len(doc.Errors) > 0 {
		e := doc.Errors[0]
		return &CCError{Status: status, Code: e.Code, Title: e.Title, Detail: e.Detail}
	}
	text := strings.TrimSpace(string(data))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return &CCError{Status: status, Detail: fmt.Sprintf("HTTP %d %s: %s", status, http.StatusText(status), text)}
}

// page is one page of a CC list.
type page[T any] struct {
	Pagination struct {
		Next *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"pagination"`
	Resources []T `json:"resources"`
	Included  struct {
		Domains []ccDomain `json:"domains"`
	} `json:"included"`
}

// listAll follows pagination.next.href to the end. The next link is used for its path and query
// only, on the API's own scheme and host: a token is never sent anywhere else.
func listAll[T any](ctx context.Context, c *cc, path string, query url.Values) ([]T, []ccDomain, error) {
	if query == nil {
		query = url.Values{}
	}
	query.Set("per_page", strconv.Itoa(cmp.Or(c.perPage, 5000)))
	u := *c.api
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var out []T
	var domains []ccDomain
	for range 10000 {
		var p page[T]
		if err := c.doURL(ctx, http.MethodGet, &u, nil, &p); err != nil {
			return nil, nil, err
		}
		out = append(out, p.Resources...)
		domains = append(domains, p.Included.Domains...)
		if p.Pagination.Next == nil || p.Pagination.Next.Href == "" {
			return out, domains, nil
		}
		next, err := url.Parse(p.Pagination.Next.Href)
		if err != nil {
			return nil, nil, fmt.Errorf("the Cloud Controller's next page link %q: %w", p.Pagination.Next.Href, err)
		}
		u.Path, u.RawPath, u.RawQuery = next.Path, next.RawPath, next.RawQuery
	}
	return nil, nil, fmt.Errorf("listing %s: more than 10000 pages", path)
}

type ccNamed struct {
	GUID string `json:"guid"`
	Name string `json:"name"`
}

type ccDomain struct {
	GUID     string `json:"guid"`
	Name     string `json:"name"`
	Internal bool   `json:"internal"`
}

type ccRel struct {
	Data *struct {
		GUID string `json:"guid"`
	} `json:"data"`
}

func (r ccRel) guid() string {
	if r.Data == nil {
		return ""
	}
	return r.Data.GUID
}

func rel(guid string) map[string]any { return map[string]any{"data": map[string]any{"guid": guid}} }

type ccMetadata struct {
	Labels      map[string]*string `json:"labels"`
	Annotations map[string]*string `json:"annotations"`
}

type ccDest struct {
	GUID string `json:"guid,omitempty"`
	App  struct {
		GUID    string `json:"guid"`
		Process *struct {
			Type string `json:"type"`
		} `json:"process,omitempty"`
	} `json:"app"`
	Weight   *int    `json:"weight,omitempty"`
	Port     *int    `json:"port,omitempty"`
	Protocol *string `json:"protocol,omitempty"`
}

type ccRoute struct {
	GUID          string     `json:"guid"`
	Protocol      string     `json:"protocol"`
	URL           string     `json:"url"`
	Destinations  []ccDest   `json:"destinations"`
	Metadata      ccMetadata `json:"metadata"`
	Relationships struct {
		Domain ccRel `json:"domain"`
		Space  ccRel `json:"space"`
	} `json:"relationships"`
}

type ccServiceInstance struct {
	GUID            string `json:"guid"`
	Name            string `json:"name"`
	Type            string `json:"type"`
	RouteServiceURL string `json:"route_service_url"`
}

type ccRouteBinding struct {
	GUID          string `json:"guid"`
	Relationships struct {
		ServiceInstance ccRel `json:"service_instance"`
		Route           ccRel `json:"route"`
	} `json:"relationships"`
}

func toDest(d ccDest) Dest {
	out := Dest{GUID: d.GUID, App: d.App.GUID, Port: d.Port, Weight: d.Weight}
	if d.App.Process != nil {
		out.Process = d.App.Process.Type
	}
	if d.Protocol != nil {
		out.Protocol = *d.Protocol
	}
	return out
}

func fromDest(d Dest) ccDest {
	var out ccDest
	out.App.GUID = d.App
	if d.Process != "" {
		out.App.Process = &struct {
			Type string `json:"type"`
		}{d.Process}
	}
	out.Port, out.Weight = d.Port, d.Weight
	if d.Protocol != "" {
		p := d.Protocol
		out.Protocol = &p
	}
	return out
}
