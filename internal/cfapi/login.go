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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudfoundry/go-cfclient/v3/client"
	"github.com/cloudfoundry/go-cfclient/v3/config"
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
	cf       *client.Client
	api      string
	by       string
	targeted Target // from config.json; empty when it targets another API
	now      func() time.Time

	// reauth builds a client that starts from the refresh token alone, used once when CC rejects an
	// access token the token itself says is still valid (clock skew, revocation).
	reauth   func() (*client.Client, error)
	reauthed bool
}

// API is the Cloud Controller URL in use.
func (c *Client) API() string { return c.api }

// By is who the changes are recorded as made by.
func (c *Client) By() string { return c.by }

// Connect reads the login and returns a client. Credentials from the environment win over the cf
// CLI's stored tokens: CF_CLIENT_ID with CF_CLIENT_SECRET, then CF_USERNAME with CF_PASSWORD.
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
	sameTarget := strings.EqualFold(api, strings.TrimRight(cfg.Target, "/"))

	hc := &http.Client{Transport: newTransport(opts.SkipSSLValidation, opts.Retry), Timeout: timeout}
	login, uaa := "", ""
	if sameTarget {
		login, uaa = cfg.AuthorizationEndpoint, cfg.UaaEndpoint
	}
	if uaa == "" {
		if login, uaa, err = discover(ctx, hc, api); err != nil {
			return nil, err
		}
	}
	if login == "" {
		login = uaa
	}
	base := []config.Option{
		config.HttpClient(hc), config.AuthTokenURL(login, uaa),
		config.RequestTimeout(timeout), config.UserAgent("maintpage"),
	}

	c := &Client{api: api, now: now}
	if sameTarget && cfg.SpaceFields.GUID != "" {
		c.targeted = Target{OrgName: cfg.OrganizationFields.Name, SpaceName: cfg.SpaceFields.Name, SpaceGUID: cfg.SpaceFields.GUID}
	}
	uaaClient := "cf"
	if sameTarget && cfg.UAAOAuthClient != "" {
		uaaClient = cfg.UAAOAuthClient
	}

	var creds []config.Option
	clientID, secret := getenv("CF_CLIENT_ID"), getenv("CF_CLIENT_SECRET")
	user, password := getenv("CF_USERNAME"), getenv("CF_PASSWORD")
	switch {
	case clientID != "" && secret != "":
		creds = []config.Option{config.ClientCredentials(clientID, secret)}
		c.by = clientID
	case user != "" && password != "":
		creds = []config.Option{config.ClientCredentials(uaaClient, ""), config.UserPassword(user, password)}
		c.by = user
	case sameTarget && (cfg.AccessToken != "" || cfg.RefreshToken != ""):
		// The client secret is left out on purpose: with one, go-cfclient would prefer the
		// client_credentials grant and act as the client instead of the logged-in user.
		tok := config.Token(cfg.AccessToken, cfg.RefreshToken)
		if err := tok(&config.Config{}); err != nil {
			if cfg.RefreshToken == "" {
				return nil, fmt.Errorf("%w: the token in %s cannot be read: run `cf login` again", ErrNotLoggedIn, cfgPath)
			}
			tok = config.Token("", cfg.RefreshToken) // an unreadable access token: start from the refresh token
		}
		creds = []config.Option{config.ClientCredentials(uaaClient, ""), tok}
		c.by = tokenUser(cfg.AccessToken)
		if c.by == "" {
			c.by = user
		}
		if cfg.RefreshToken != "" {
			refresh := cfg.RefreshToken
			c.reauth = func() (*client.Client, error) {
				return newCF(api, append(base, config.ClientCredentials(uaaClient, ""), config.Token("", refresh)))
			}
		}
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
	if c.cf, err = newCF(api, append(base, creds...)); err != nil {
		return nil, loginError(err)
	}
	return c, nil
}

func newCF(api string, opts []config.Option) (*client.Client, error) {
	cfg, err := config.New(api, opts...)
	if err != nil {
		return nil, err
	}
	return client.New(cfg)
}

func loginError(err error) error {
	if isTokenFetchError(err) {
		return fmt.Errorf("%w: the UAA refused the credentials (%s): check CF_CLIENT_ID/CF_CLIENT_SECRET or CF_USERNAME/CF_PASSWORD, or run `cf login` again", ErrNotLoggedIn, tokenErrorText(err))
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

// discover asks the CC root document where the UAA and login servers are.
func discover(ctx context.Context, hc *http.Client, api string) (login, uaa string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/", nil)
	if err != nil {
		return "", "", fmt.Errorf("%w: invalid API endpoint %q: %w", ErrNotLoggedIn, api, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("cannot reach the Cloud Controller at %s: %w", api, tlsHint(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("the Cloud Controller at %s answered %s to GET /: check the API endpoint", api, resp.Status)
	}
	var root struct {
		Links struct {
			Login struct{ Href string } `json:"login"`
			UAA   struct{ Href string } `json:"uaa"`
		} `json:"links"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&root); err != nil {
		return "", "", fmt.Errorf("reading the Cloud Controller root document at %s: %w", api, err)
	}
	uaa = root.Links.UAA.Href
	if uaa == "" {
		uaa = root.Links.Login.Href
	}
	if uaa == "" {
		return "", "", fmt.Errorf("the Cloud Controller at %s names no UAA in its root document: check the API endpoint", api)
	}
	return root.Links.Login.Href, uaa, nil
}

// tokenUser reads who a UAA access token belongs to. The signature is not checked: the name is only
// recorded for people to read, and CC checks the token on every call anyway.
func tokenUser(accessToken string) string {
	tok := accessToken
	if _, rest, ok := strings.Cut(accessToken, " "); ok {
		tok = rest
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		UserName string `json:"user_name"`
		ClientID string `json:"client_id"`
	}
	if json.Unmarshal(body, &claims) != nil {
		return ""
	}
	if claims.UserName != "" {
		return claims.UserName
	}
	return claims.ClientID
}
