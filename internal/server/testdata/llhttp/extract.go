// Command extract turns the request tests of nodejs/llhttp (test/request/*.md) into requests.txt,
// the peer corpus of the fast path's differential test. It keeps only the bytes each test sends,
// decoded exactly as llhttp's own test runner (test/md-test.ts) decodes them; llhttp's expected
// parser events are not kept: the differential test's reference is net/http on the same bytes.
//
//	git clone https://github.com/nodejs/llhttp && git -C llhttp checkout COMMIT
//	go run ./internal/server/testdata/llhttp/extract.go -src llhttp -commit COMMIT \
//	    > internal/server/testdata/llhttp/requests.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	src := flag.String("src", "", "a checkout of github.com/nodejs/llhttp")
	commit := flag.String("commit", "", "the commit checked out, recorded in the output")
	flag.Parse()
	if *src == "" || *commit == "" {
		fmt.Fprintln(os.Stderr, "usage: extract -src LLHTTP_CHECKOUT -commit COMMIT > requests.txt")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(*src, "test", "request", "*.md"))
	if err != nil || len(files) == 0 {
		fmt.Fprintf(os.Stderr, "no test/request/*.md under %s (%v): is -src an llhttp checkout?\n", *src, err)
		os.Exit(1)
	}
	sort.Strings(files)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "# Requests from github.com/nodejs/llhttp test/request/*.md at commit %s,\n", *commit)
	fmt.Fprintf(out, "# extracted by extract.go in this directory (do not edit by hand). Each case is a comment line\n")
	fmt.Fprintf(out, "# (source file:line, llhttp's test type, title) and a Go-quoted string of the bytes sent.\n")
	n := 0
	for _, f := range files {
		cases, err := extract(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, c := range cases {
			fmt.Fprintf(out, "\n# %s:%d %s %s\n%s\n", filepath.Base(f), c.line, c.typ, c.title, strconv.Quote(c.input))
			n++
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%d requests\n", n)
}

type testCase struct {
	line       int
	typ, title string
	input      string
}

var (
	metaRE = regexp.MustCompile(`^<!-- meta=(\{.*\}) -->$`)
	typeRE = regexp.MustCompile(`"type"\s*:\s*"([^"]+)"`)
)

// extract reads the ```http blocks of one file whose meta names a request type.
func extract(file string) ([]testCase, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var out []testCase
	title, typ := "", ""
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r")
		switch {
		case strings.HasPrefix(l, "#"):
			title = strings.TrimSpace(strings.TrimLeft(l, "#"))
			typ = ""
		case metaRE.MatchString(l):
			m := typeRE.FindStringSubmatch(l)
			if m == nil {
				return nil, fmt.Errorf("%s:%d: meta without a type", file, i+1)
			}
			typ = m[1]
		case l == "```http":
			start := i + 1
			var body strings.Builder
			for i++; i < len(lines) && strings.TrimRight(lines[i], "\r") != "```"; i++ {
				body.WriteString(lines[i])
				body.WriteString("\n")
			}
			if i == len(lines) {
				return nil, fmt.Errorf("%s:%d: unterminated http block", file, start)
			}
			if strings.HasPrefix(typ, "request") {
				out = append(out, testCase{line: start, typ: typ, title: title, input: decode(body.String())})
			}
			typ = ""
		}
	}
	return out, nil
}

var (
	escapedNewline = regexp.MustCompile(`\\(\r\n|\r|\n)`)
	newline        = regexp.MustCompile(`\r\n|\r|\n`)
	hexEscape      = regexp.MustCompile(`\\x([0-9a-fA-F]+)`)
	octalEscape    = regexp.MustCompile(`\\([0-7]{1,3})`)
)

// decode applies test/md-test.ts's steps, in its order. JavaScript's String.fromCharCode makes
// one character per code; each becomes one byte here (all codes in the corpus are below 256).
func decode(s string) string {
	s = strings.TrimSuffix(s, "\n")
	s = escapedNewline.ReplaceAllString(s, "")
	s = newline.ReplaceAllString(s, "\r\n")
	s = strings.ReplaceAll(s, `\r`, "\r")
	s = strings.ReplaceAll(s, `\n`, "\n")
	s = strings.ReplaceAll(s, `\t`, "\t")
	s = strings.ReplaceAll(s, `\f`, "\f")
	s = hexEscape.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := strconv.ParseUint(m[2:], 16, 64)
		return charCode(v)
	})
	s = octalEscape.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := strconv.ParseUint(m[1:], 8, 64)
		return charCode(v)
	})
	if strings.Contains(s, "${") {
		// md-test.ts evaluates ${…} as JavaScript; no request test uses it today.
		panic("inline JavaScript in a request test: extend extract.go")
	}
	return s
}

func charCode(v uint64) string {
	if v > 0xff {
		panic(fmt.Sprintf("character code %#x does not fit a byte: extend extract.go", v))
	}
	return string([]byte{byte(v)})
}
