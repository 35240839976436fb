// Package deploy holds the container image and the Kubernetes manifests; its tests prove the
// image's contents and decode every manifest strictly into the Kubernetes API types.
package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// instruction is one line of a Dockerfile, continuations joined.
type instruction struct {
	cmd, args string
}

// parseDockerfile reads the instructions of a Dockerfile: comments dropped, lines ending in a
// backslash joined, and ARG defaults substituted into FROM and RUN as BuildKit would.
func parseDockerfile(t *testing.T, name string) [][]instruction {
	t.Helper()
	stages, err := readDockerfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return stages
}

func readDockerfile(name string) ([][]instruction, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages [][]instruction
	var pre []instruction
	sc := bufio.NewScanner(f)
	line := ""
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(s, "#") || (s == "" && line == "") {
			continue
		}
		if strings.HasSuffix(s, "\\") {
			line += strings.TrimSuffix(s, "\\") + " "
			continue
		}
		line += s
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		line = ""
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			pre = append(pre, in)
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s has no FROM", name)
	}
	stages[0] = append(pre, stages[0]...)
	return stages, nil
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfileShape checks what the image promises: multi-stage, an empty final base with
// nothing that needs a shell, a numeric non-root user, exec-form health check and entry point,
// and the OCI labels.
func TestDockerfileShape(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	final := stages[len(stages)-1]
	if from := final[0].args; from != "scratch" {
		t.Errorf("final stage FROM %q, want scratch", from)
	}
	for _, in := range final {
		if in.cmd == "RUN" || in.cmd == "SHELL" {
			t.Errorf("the final stage has %s %s: it must need no shell", in.cmd, in.args)
		}
		if (in.cmd == "CMD" || in.cmd == "ENTRYPOINT") && !strings.HasPrefix(in.args, "[") {
			t.Errorf("%s %s is in shell form: use the exec form, there is no shell", in.cmd, in.args)
		}
	}
	users := find(final, "USER")
	if len(users) != 1 {
		t.Fatalf("final stage USER: %v, want exactly one", users)
	}
	uid, _, _ := strings.Cut(users[0].args, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric uid other than 0, so that runAsNonRoot can check it", users[0].args)
	}
	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 || !strings.Contains(hc[0].args, `CMD ["/maintpage", "health"]`) {
		t.Errorf("HEALTHCHECK %v, want the exec form of /maintpage health", hc)
	}
	if ep := find(final, "ENTRYPOINT"); len(ep) != 1 || ep[0].args != `["/maintpage"]` {
		t.Errorf("ENTRYPOINT %v", ep)
	}
	labels := ""
	for _, in := range find(final, "LABEL") {
		labels += in.args + " "
	}
	for _, key := range []string{"title", "description", "source", "version"} {
		if !strings.Contains(labels, "org.opencontainers.image."+key+"=") {
			t.Errorf("no org.opencontainers.image.%s label", key)
		}
	}
}

var goBuildRE = regexp.MustCompile(`RUN (CGO_ENABLED=0) go build (.*) -o /out/maintpage (\./cmd/maintpage)$`)

var (
	imageBuild    sync.Once
	imageBinary   string
	imageBuildErr error
)

// builtLikeTheDockerfile is the binary of the build stage's go build, run once on this machine with
// the same flags (-trimpath rebuilds the standard library once; the build cache keeps it after).
func builtLikeTheDockerfile(t *testing.T) string {
	t.Helper()
	imageBuild.Do(func() {
		dir, err := os.MkdirTemp("", "maintpage-image")
		if err != nil {
			imageBuildErr = err
			return
		}
		os.Chmod(dir, 0o755) //nolint:errcheck // the unprivileged user must reach the binary
		imageBinary = filepath.Join(dir, "maintpage")
		imageBuildErr = buildLikeTheDockerfile(imageBinary)
	})
	if imageBuildErr != nil {
		t.Fatal(imageBuildErr)
	}
	return imageBinary
}

// buildLikeTheDockerfile runs the build stage's go build on this machine, with the same flags.
func buildLikeTheDockerfile(out string) error {
	stages, err := readDockerfile("Dockerfile")
	if err != nil {
		return err
	}
	var m []string
	for _, in := range stages[0] {
		if in.cmd == "RUN" {
			if m = goBuildRE.FindStringSubmatch("RUN " + in.args); m != nil {
				break
			}
		}
	}
	if m == nil {
		return errors.New("the build stage has no RUN CGO_ENABLED=0 go build … -o /out/maintpage ./cmd/maintpage")
	}
	flags := strings.ReplaceAll(m[2], "${VERSION}", "test")
	ldflags := regexp.MustCompile(`-ldflags="([^"]*)"`).FindStringSubmatch(flags)
	args := []string{"build"}
	if strings.Contains(flags, "-trimpath") {
		args = append(args, "-trimpath")
	}
	if ldflags != nil {
		args = append(args, "-ldflags="+ldflags[1])
	}
	args = append(args, "-o", out, "."+"."+"/cmd/maintpage")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), m[1])
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// TestImageBinaryIsStaticAndRunsWithoutRoot builds the binary as the Dockerfile does and proves
// what the image's filesystem needs: a static executable (no interpreter, no shared libraries, so
// an empty base suffices), that serves and answers "maintpage health" as uid 65532 with no shell
// and an empty PATH.
func TestImageBinaryIsStaticAndRunsWithoutRoot(t *testing.T) {
	t.Parallel()
	bin := builtLikeTheDockerfile(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is not static and would not run on scratch")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	f.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := []string{"PATH=", "MAINTPAGE_LISTEN=" + addr, "MAINTPAGE_LOG_FORMAT=json"}
	asUser := func(cmd *exec.Cmd) {
		cmd.Env = env
		cmd.Dir = "/"
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		}
	}
	health := func() (string, error) {
		cmd := exec.Command(bin, "health")
		asUser(cmd)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := health(); err == nil {
		t.Fatalf("maintpage health succeeded with nothing listening: %s", out)
	}
	serve := exec.Command(bin, "serve")
	asUser(serve)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() }) //nolint:errcheck
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := health()
		if err == nil {
			if !strings.Contains(out, "ok: http://"+addr+"/_maintenance/health") {
				t.Errorf("health output %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("maintpage health did not succeed within 20s: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if os.Getuid() == 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", serve.Process.Pid))
		if err != nil || !regexp.MustCompile(`(?m)^Uid:\s+65532\s`).Match(b) {
			t.Errorf("the server does not run as uid 65532: %v\n%s", err, b)
		}
	}
}

// TestImageBuildsWithBuildah builds the Dockerfile's final stage, verbatim, with buildah (a
// daemonless builder from Debian) and checks the image's configuration and its files. The build
// stage cannot run here, since its golang base image is on a registry this machine cannot reach:
// it is replaced by the binary that TestImageBinaryIsStaticAndRunsWithoutRoot's build produces.
// It is built in the Docker format, as docker build makes it: the OCI format has no HEALTHCHECK.
func TestImageBuildsWithBuildah(t *testing.T) {
	t.Parallel()
	buildah, err := exec.LookPath("buildah")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("buildah not found, and CI=true forbids skipping: install Debian's buildah package (scripts/test.sh does)")
		}
		t.Skip("buildah not found: install Debian's buildah package to build the image")
	}
	dir := t.TempDir()
	ctx := filepath.Join(dir, "context")
	if err := os.MkdirAll(filepath.Join(ctx, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(builtLikeTheDockerfile(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "out", "maintpage"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		ca = []byte("# no CA bundle on the test machine\n")
	}
	if err := os.WriteFile(filepath.Join(ctx, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(string(src), "\nFROM ")
	stand := "FROM scratch AS build\nCOPY out/maintpage /out/maintpage\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(stand+string(src)[i:]), 0o644); err != nil {
		t.Fatal(err)
	}
	store := []string{"--storage-driver", "vfs", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot")}
	bah := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(buildah, append(store, args...)...)
		cmd.Env = append(os.Environ(), "BUILDAH_ISOLATION=chroot", "TMPDIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	bah("bud", "--format", "docker", "--isolation", "chroot", "--build-arg", "VERSION=test", "-t", "localhost/maintpage:test", ctx)
	var cfg struct {
		OCIv1 struct {
			Config struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Env        []string
				Labels     map[string]string
			}
		}
		Docker struct {
			Config struct{ Healthcheck struct{ Test []string } }
		}
	}
	if err := json.Unmarshal([]byte(bah("inspect", "--type", "image", "localhost/maintpage:test")), &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg.OCIv1.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/maintpage" || strings.Join(c.Cmd, " ") != "serve" {
		t.Errorf("image config: user %q, entrypoint %v, cmd %v", c.User, c.Entrypoint, c.Cmd)
	}
	if c.Labels["org.opencontainers.image.version"] != "test" || c.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("labels %v", c.Labels)
	}
	if got := strings.Join(cfg.Docker.Config.Healthcheck.Test, " "); got != "CMD /maintpage health" {
		t.Errorf("health check %q, want CMD /maintpage health", got)
	}
	// The image's files: exactly the binary and the CA bundle.
	ctr := strings.TrimSpace(bah("from", "localhost/maintpage:test"))
	mnt := strings.TrimSpace(bah("mount", ctr))
	var files []string
	filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error { //nolint:errcheck
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(mnt, p)
			files = append(files, rel)
		}
		return nil
	})
	bah("umount", ctr)
	if strings.Join(files, " ") != "etc/ssl/certs/ca-certificates.crt maintpage" {
		t.Errorf("the image holds %v, want only the binary and the CA bundle", files)
	}
	if out := bah("run", "--isolation", "chroot", "--user", "65532:65532", ctr, "--", "/maintpage", "version"); !strings.Contains(out, "maintpage test") {
		t.Errorf("maintpage version in the image: %q", out)
	}
}
