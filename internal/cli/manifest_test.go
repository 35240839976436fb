package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/reqlog"
)

// cfBytes reads a Cloud Foundry size with its units (cf CLI's bytefmt: B, K/KB, M/MB, G/GB, in
// either case, powers of 1024).
func cfBytes(t *testing.T, s string) float64 {
	t.Helper()
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		t.Fatalf("log rate %q: want a positive size such as 16K", s)
	}
	return n * mult
}

// quietLogRate is what the request log writes per second in a mode with nothing but maintenance
// answers and a platform's health checks: the largest summary line there can be (every status,
// every format, five long paths and five IPv6 networks), once per interval, and one line per health
// check.
func quietLogRate(t *testing.T, c *config.Config, healthEvery time.Duration) float64 {
	t.Helper()
	var out bytes.Buffer
	mode, err := reqlog.ParseMode(c.LogRequests)
	if err != nil {
		t.Fatal(err)
	}
	if mode != reqlog.Summary {
		t.Fatalf("log_requests %s: a platform default must be summary, whose volume does not grow with the traffic", c.LogRequests)
	}
	l, err := reqlog.New(reqlog.Options{Out: &out, Mode: mode, Text: c.LogFormat == "text", SummaryEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		for _, f := range []string{"html", "json", "problem+json", "text"} {
			l.Log(&reqlog.Entry{Method: "GET", Path: fmt.Sprintf("/%d/%s", i, strings.Repeat("p", 80)), Status: 500 + i, Maintenance: true, Format: f,
				Remote: fmt.Sprintf("[2001:db8:%x:ffff::1]:65535", i)})
		}
	}
	l.Close()
	summary := float64(out.Len())
	out.Reset()
	l, _ = reqlog.New(reqlog.Options{Out: &out, Mode: reqlog.All, Text: c.LogFormat == "text"}) // the line alone
	l.Log(&reqlog.Entry{Method: "GET", Path: c.ReservedPrefix + "health", Status: 200, Bytes: 3, Duration: 123456 * time.Microsecond,
		Remote: "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"})
	l.Close()
	health := float64(out.Len())
	t.Logf("largest summary line %.0f B every %v; health check line %.0f B every %v", summary, c.LogSummaryInterval, health, healthEvery)
	return summary/c.LogSummaryInterval.Seconds() + health/healthEvery.Seconds()
}

// TestManifestLogRateFitsCloudFoundry: the manifest sets only settings maintpage knows, they load,
// and its per-instance log rate limit leaves at least four times the room the request log needs
// when only maintenance answers and health checks come (the rest of the budget is for the requests
// that get a line of their own).
func TestManifestLogRateFitsCloudFoundry(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "manifest.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Applications []struct {
			LogRate string            `yaml:"log-rate-limit-per-second"`
			Env     map[string]string `yaml:"env"`
		}
	}
	if err := yaml.Unmarshal(b, &m); err != nil || len(m.Applications) != 1 {
		t.Fatalf("manifest.yml: %v, %d applications; want one", err, len(m.Applications))
	}
	app := m.Applications[0]
	known := map[string]bool{"GOVERSION": true, "GO_INSTALL_PACKAGE_SPEC": true, "CGO_ENABLED": true} // the Go buildpack's
	for _, o := range config.Options() {
		known[o.Env] = true
	}
	for k := range app.Env {
		if !known[k] {
			t.Errorf("manifest.yml sets %s, which is neither a maintpage setting nor the Go buildpack's", k)
		}
	}
	c, err := config.Load("", func(k string) string { return app.Env[k] }, nil)
	if err != nil {
		t.Fatalf("the manifest's settings do not load: %v", err)
	}
	if app.LogRate == "" {
		t.Fatal("manifest.yml sets no log-rate-limit-per-second")
	}
	limit := cfBytes(t, app.LogRate)
	// Cloud Foundry's default health-check-interval is 30s; the manifest leaves it so.
	need := quietLogRate(t, c, 30*time.Second)
	if need*4 > limit {
		t.Errorf("log-rate-limit-per-second %s (%.0f B/s) leaves less than 4× the %.1f B/s the request log needs", app.LogRate, limit, need)
	}
}

// TestKubernetesLogFitsTheKubeletsRotation: the Kubernetes configuration loads and pins the summary
// mode, and with the Deployment's probes the quiet request log is small enough that the kubelet's
// default log rotation (containerLogMaxSize 10Mi × containerLogMaxFiles 5, KubeletConfiguration's
// defaults) holds at least three days of it.
func TestKubernetesLogFitsTheKubeletsRotation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	c, err := config.Load(filepath.Join(dir, "maintpage.yaml"), func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("deploy/kubernetes/maintpage.yaml does not load: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := k8syaml.UnmarshalStrict(b, &d); err != nil {
		t.Fatal(err)
	}
	// Health checks per second from both probes, as one interval.
	perSecond := 0.0
	for _, ctr := range d.Spec.Template.Spec.Containers {
		for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
			if p == nil || p.HTTPGet == nil {
				continue
			}
			period := p.PeriodSeconds
			if period == 0 {
				period = 10 // the API server's default
			}
			perSecond += 1 / float64(period)
		}
	}
	if perSecond == 0 {
		t.Fatal("deployment.yaml has no HTTP probes; the test reads their periods")
	}
	need := quietLogRate(t, c, time.Duration(float64(time.Second)/perSecond))
	const kept = 5 * 10 << 20
	if days := kept / (need * 86400); days < 3 {
		t.Errorf("the quiet request log writes %.0f B/s: the kubelet's default rotation keeps only %.1f days of it, want at least 3", need, days)
	} else {
		t.Logf("the quiet request log writes %.0f B/s, %.1f MB a day: the kubelet's default rotation keeps %.1f days", need, need*86400/1e6, days)
	}
}
