package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a private certificate authority, as a foundation's router or an internal upstream uses.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// file writes the CA's certificate where upstream_ca_file can name it.
func (ca *testCA) file(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// server starts an HTTPS echo whose certificate for 127.0.0.1 the CA signed.
func (ca *testCA) server(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some cases
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestUpstreamTLS: an upstream or a router whose certificate a private CA signed is reached when
// upstream_ca_file names that CA (or, for test foundations, with upstream_insecure_skip_verify),
// and refused otherwise, on a real TLS connection; SSL_CERT_FILE plays no part.
func TestUpstreamTLS(t *testing.T) {
	t.Parallel()
	ca, stranger := newTestCA(t, "foundation CA"), newTestCA(t, "someone else's CA")
	srv := ca.server(t)
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	tests := map[string]struct {
		routeService bool
		settings     map[string]string
		pass         bool
	}{
		"upstream, system roots only":      {settings: map[string]string{}, pass: false},
		"upstream, the CA file":            {settings: map[string]string{"upstream_ca_file": ca.file(t)}, pass: true},
		"upstream, another CA's file":      {settings: map[string]string{"upstream_ca_file": stranger.file(t)}, pass: false},
		"upstream, insecure":               {settings: map[string]string{"upstream_insecure_skip_verify": "true"}, pass: true},
		"route service, system roots only": {routeService: true, settings: map[string]string{}, pass: false},
		"route service, the CA file":       {routeService: true, settings: map[string]string{"upstream_ca_file": ca.file(t)}, pass: true},
		"route service, insecure":          {routeService: true, settings: map[string]string{"upstream_insecure_skip_verify": "true"}, pass: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{"Accept": "application/problem+json"}
			if tc.routeService {
				tc.settings["route_service"] = "true"
				tc.settings["route_service_hosts"] = hostPort
				header["X-Cf-Forwarded-Url"] = srv.URL + "/orders/7"
			} else {
				tc.settings["upstream"] = srv.URL
			}
			f := newFixture(t, tc.settings, nil) // nil: the gate's own transport from the settings
			w := f.do("GET", "/orders/7", "", header)
			if !tc.pass {
				if w.Code != http.StatusServiceUnavailable || !isUnplanned(w.Body.String()) {
					t.Errorf("got %d %s, want the unplanned page: the certificate is not trusted", w.Code, w.Body.String())
				}
				return
			}
			if w.Code != http.StatusOK {
				t.Fatalf("got %d %s, want the upstream's answer", w.Code, w.Body.String())
			}
			if got := decodeEcho(t, w); got.URI != "/orders/7" {
				t.Errorf("upstream saw %q, want /orders/7", got.URI)
			}
		})
	}
}
