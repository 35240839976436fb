package cfapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Options says how to reach and log in to Cloud Foundry.
type Options struct {
	// Getenv reads CF_HOME, HOME, CF_API, CF_CLIENT_ID, CF_CLIENT_SECRET, CF_USERNAME, CF_PASSWORD.
	Getenv func(string) string
	// SkipSSLValidation accepts any TLS certificate; only when the operator asks for it.
	SkipSSLValidation bool
	// CallTimeout bounds one API call, retries included; 0 means 2 minutes.
	CallTimeout time.Duration
	Retry       RetryPolicy
	// Now is the clock for "since when"; nil means time.Now.
	Now func() time.Time
	// Warn hears what went wrong but does not stop the command, such as a renewed login that could
	// not be written back to config.json; nil drops it.
	Warn func(error)
}

// cfCLIConfig is the part of the cf CLI's $CF_HOME/.cf/config.json that maintpage reads.
type cfCLIConfig struct {
	Target                string
	AuthorizationEndpoint string
	UaaEndpoint           string
	AccessToken           string
	RefreshToken          string
	UAAOAuthClient        string
	OrganizationFields    struct{ GUID, Name string }
	SpaceFields           struct{ GUID, Name string }
}

// Target is the org and space a command works in.
type Target struct {
	OrgName, SpaceName, SpaceGUID string
}

func (t Target) String() string { return fmt.Sprintf("org %s / space %s", t.OrgName, t.SpaceName) }

// Client talks to one Cloud Controller as one user or client.
type Client struct {
	cc       *cc
	api      string
	by       string
	targeted Target // from config.json; empty when it targets another API
	now      func() time.Time
}

// API is the Cloud Controller URL in use.
func (c *Client) API() string { return c.api }

// By is who the changes are recorded as made by.
func (c *Client) By() string { return c.by }

// Connect reads the login and returns a client. Credentials from the environment win over the cf
// CLI's stored tokens: CF_CLIENT_ID with CF_CLIENT_SECRET, then CF_USERNAME with CF_PASSWORD. The
// first token is fetched here, so that a login that does not work fails before any plan is made.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	timeout := opts.CallTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}

	cfgPath, cfg, err := readCFConfig(getenv)
	if err != nil {
		return nil, err
	}
	api := strings.TrimRight(strings.TrimSpace(getenv("CF_API")), "/")
	if api == "" {
		api = strings.TrimRight(cfg.Target, "/")
	}
	if api == "" {
		return nil, fmt.Errorf("%w: no API endpoint in %s and CF_API is not set: run `cf login -a https://api.YOUR-SYSTEM-DOMAIN`, or set CF_API with CF_CLIENT_ID and CF_CLIENT_SECRET (or CF_USERNAME and CF_PASSWORD)", ErrNotLoggedIn, cfgPath)
	}
	apiURL, err := url.Parse(api)
	if err != nil || (apiURL.Scheme != "https" && apiURL.Scheme != "http") || apiURL.Host == "" {
		return nil, fmt.Errorf("%w: invalid API endpoint %q: write https://api.YOUR-SYSTEM-DOMAIN", ErrNotLoggedIn, api)
	}
	sameTarget := strings.EqualFold(api, strings.TrimRight(cfg.Target, "/"))

	retry := newTransport(opts.SkipSSLValidation, opts.Retry)
	plain := &http.Client{Transport: retry, Timeout: timeout}
	// A token grant carries the refresh token or a password in its body, which net/http sends
	// again to wherever a 307 or 308 points, on any host: the UAA's answers are not followed.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	uaaHTTP := &http.Client{Transport: retry, Timeout: timeout, CheckRedirect: noRedirect}
	uaa := ""
	if sameTarget {
		uaa = cfg.UaaEndpoint
	}
	if uaa == "" {
		if uaa, err = discover(ctx, plain, api); err != nil {
			return nil, err
		}
	}
	uaaClient := "cf"
	if sameTarget && cfg.UAAOAuthClient != "" {
		uaaClient = cfg.UAAOAuthClient
	}
	tokenURL := strings.TrimRight(uaa, "/") + "/oauth/token"
	src := &tokenSource{hc: uaaHTTP, warn: opts.Warn, uaa: oauth2.Config{
		// The cf CLI's own UAA client has an empty secret and sends it in the Authorization header.
		ClientID: uaaClient, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
	}}
	c := &Client{api: api, now: now}
	if sameTarget && cfg.SpaceFields.GUID != "" {
		c.targeted = Target{OrgName: cfg.OrganizationFields.Name, SpaceName: cfg.SpaceFields.Name, SpaceGUID: cfg.SpaceFields.GUID}
	}

	clientID, secret := getenv("CF_CLIENT_ID"), getenv("CF_CLIENT_SECRET")
	user, password := getenv("CF_USERNAME"), getenv("CF_PASSWORD")
	switch {
	case clientID != "" && secret != "":
		cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		src.first = cc.Token
		c.by = clientID
	case user != "" && password != "":
		uaaCfg := src.uaa
		src.first = func(ctx context.Context) (*oauth2.Token, error) {
			return uaaCfg.PasswordCredentialsToken(ctx, user, password)
		}
		c.by = user
	case sameTarget && (cfg.AccessToken != "" || cfg.RefreshToken != ""):
		src.tok = storedToken(cfg.AccessToken, cfg.RefreshToken)
		if !src.tok.Valid() && cfg.RefreshToken == "" {
			return nil, fmt.Errorf("%w: the token in %s has expired or cannot be read, and there is no refresh token: run `cf login` again", ErrNotLoggedIn, cfgPath)
		}
		src.save = func(prev string, t *oauth2.Token) error { return writeBackTokens(cfgPath, api, prev, t) }
		c.by = tokenUser(cfg.AccessToken)
	default:
		where := cfgPath
		if !sameTarget && cfg.Target != "" {
			where = fmt.Sprintf("%s (it holds a login for %s, not %s)", cfgPath, cfg.Target, api)
		}
		return nil, fmt.Errorf("%w: no token in %s and no credentials in the environment: run `cf login`, or set CF_CLIENT_ID and CF_CLIENT_SECRET (or CF_USERNAME and CF_PASSWORD)", ErrNotLoggedIn, where)
	}
	if c.by == "" {
		c.by = "unknown"
	}
	tok, err := src.token(ctx)
	if err != nil {
		return nil, loginFailed(err)
	}
	if c.by == "unknown" {
		if who := tokenUser(tok.AccessToken); who != "" {
			c.by = who
		}
	}
	c.cc = &cc{api: apiURL, hc: &http.Client{
		Transport: &authTransport{base: retry, src: src, api: apiURL}, Timeout: timeout,
		// The V3 calls made here are not redirected; an answer that redirects is reported as it is.
		CheckRedirect: noRedirect,
	}}
	return c, nil
}

// storedToken reads the cf CLI's stored tokens. Its access token is a JWT whose exp claim says when
// it expires; one that cannot be read counts as expired, so the refresh token renews it at once.
func storedToken(access, refresh string) *oauth2.Token {
	tok := strings.TrimSpace(access)
	if scheme, rest, ok := strings.Cut(tok, " "); ok && strings.EqualFold(scheme, "bearer") {
		tok = rest
	}
	t := &oauth2.Token{AccessToken: tok, TokenType: "bearer", RefreshToken: refresh, Expiry: time.Unix(1, 0)}
	if exp := tokenExpiry(tok); !exp.IsZero() {
		t.Expiry = exp
	}
	return t
}

func loginFailed(err error) error {
	var te *tokenError
	if errors.As(err, &te) {
		return fmt.Errorf("%w: the UAA refused the login (%s): run `cf login` again, or check CF_CLIENT_ID/CF_CLIENT_SECRET or CF_USERNAME/CF_PASSWORD", ErrNotLoggedIn, te)
	}
	return fmt.Errorf("logging in to Cloud Foundry: %w", tlsHint(err))
}

// tlsHint adds what to do to a certificate error, without turning validation off by itself.
func tlsHint(err error) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	if errors.As(err, &unknown) || errors.As(err, &verify) || errors.As(err, &host) {
		return fmt.Errorf("%w (if you trust this endpoint, pass --skip-ssl-validation)", err)
	}
	return err
}

func readCFConfig(getenv func(string) string) (string, cfCLIConfig, error) {
	home := getenv("CF_HOME")
	if home == "" {
		home = getenv("HOME")
	}
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	path := filepath.Join(home, ".cf", "config.json")
	var cfg cfCLIConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, cfg, nil
	}
	if err != nil {
		return path, cfg, fmt.Errorf("reading the cf CLI config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return path, cfg, fmt.Errorf("reading the cf CLI config %s: %w (run `cf login` to rewrite it)", path, err)
	}
	return path, cfg, nil
}

// discover asks the CC root document where the UAA is.
func discover(ctx context.Context, hc *http.Client, api string) (uaa string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/", nil)
	if err != nil {
		return "", fmt.Errorf("%w: invalid API endpoint %q: %w", ErrNotLoggedIn, api, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach the Cloud Controller at %s: %w", api, tlsHint(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the Cloud Controller at %s answered %s to GET /: check the API endpoint", api, resp.Status)
	}
	var root struct {
		Links struct {
			Login struct{ Href string } `json:"login"`
			UAA   struct{ Href string } `json:"uaa"`
		} `json:"links"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&root); err != nil {
		return "", fmt.Errorf("reading the Cloud Controller root document at %s: %w", api, err)
	}
	uaa = root.Links.UAA.Href
	if uaa == "" {
		uaa = root.Links.Login.Href
	}
	if uaa == "" {
		return "", fmt.Errorf("the Cloud Controller at %s names no UAA in its root document: check the API endpoint", api)
	}
	return uaa, nil
}

// jwtClaims reads the claims of a UAA access token. The signature is not checked: what is read is
// only recorded for people (who) or decides when to renew (exp), and CC checks the token anyway.
type jwtClaims struct {
	UserName string `json:"user_name"`
	ClientID string `json:"client_id"`
	Exp      int64  `json:"exp"`
}

func readClaims(accessToken string) (jwtClaims, bool) {
	var claims jwtClaims
	tok := strings.TrimSpace(accessToken)
	if _, rest, ok := strings.Cut(tok, " "); ok {
		tok = rest
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return claims, false
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(body, &claims) != nil {
		return jwtClaims{}, false
	}
	return claims, true
}

// tokenUser reads who a UAA access token belongs to.
func tokenUser(accessToken string) string {
	claims, _ := readClaims(accessToken)
	if claims.UserName != "" {
		return claims.UserName
	}
	return claims.ClientID
}

// tokenExpiry reads when a UAA access token expires; zero when it cannot be read.
func tokenExpiry(accessToken string) time.Time {
	claims, ok := readClaims(accessToken)
	if !ok || claims.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
