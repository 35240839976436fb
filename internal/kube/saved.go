package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AnnotationSaved holds, on a switched object, what it pointed at before. Its prefix is dotted, as
// Kubernetes asks of keys that are not its own (a bare "maintpage/…" is also legal there, but
// would differ from the label and annotation conventions other tools follow).
const AnnotationSaved = "maintpage.io/saved"

// maxAnnotations is the API server's limit on the total size of an object's annotations
// (TotalAnnotationSizeLimitB in k8s.io/apimachinery/pkg/api/validation/objectmeta.go).
const maxAnnotations = 256 * 1024

const savedVersion = 1

// Field is one place in the object that the switch changed: At is a JSON pointer (RFC 6901) into the
// object, Was what was there (null when it was absent), Now what maintpage put there. Now lets "off"
// notice an edit made during the maintenance window instead of silently undoing it.
type Field struct {
	At  string          `json:"at"`
	Was json.RawMessage `json:"was"`
	Now json.RawMessage `json:"now"`
}

// Saved is the annotation's value: when, by whom and why the object went into maintenance, the
// maintenance Service it points at, and every field changed.
type Saved struct {
	Version     int       `json:"v"`
	When        time.Time `json:"when"`
	Who         string    `json:"who"`
	Why         string    `json:"why,omitempty"`
	Maintenance string    `json:"maintenance"`
	Fields      []Field   `json:"fields"`
}

func (s *Saved) encode() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encoding the saved state: %w", err)
	}
	return string(b), nil
}

// ParseSaved reads the annotation; a value it cannot read is reported, never guessed at.
func ParseSaved(raw string) (*Saved, error) {
	var s Saved
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("annotation %s is not maintpage's JSON (%w): remove it by hand after checking the object", AnnotationSaved, err)
	}
	if s.Version != savedVersion {
		return nil, fmt.Errorf("annotation %s has version %d, this maintpage reads version %d: use a maintpage of the same release", AnnotationSaved, s.Version, savedVersion)
	}
	if len(s.Fields) == 0 {
		return nil, fmt.Errorf("annotation %s records no changed field: remove it by hand after checking the object", AnnotationSaved)
	}
	for _, f := range s.Fields {
		if _, err := splitPointer(f.At); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", AnnotationSaved, err)
		}
	}
	return &s, nil
}

// splitPointer splits an RFC 6901 JSON pointer into its unescaped tokens.
func splitPointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("field %q is not a JSON pointer", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// pointer builds a JSON pointer from tokens (strings or ints).
func pointer(toks ...any) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		switch v := t.(type) {
		case int:
			b.WriteString(strconv.Itoa(v))
		case string:
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(v, "~", "~0"), "/", "~1"))
		}
	}
	return b.String()
}

// getAt returns the value at pointer p in obj, and whether it exists.
func getAt(obj map[string]any, p string) (any, bool) {
	toks, err := splitPointer(p)
	if err != nil {
		return nil, false
	}
	var cur any = obj
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// setAt puts v at pointer p in obj (deleting the key when v is nil). The parent must exist: the
// fields maintpage changes always live in maps or lists that were there when it read the object.
func setAt(obj map[string]any, p string, v any) error {
	toks, err := splitPointer(p)
	if err != nil {
		return err
	}
	parent, ok := getAt(obj, pointer(anys(toks[:len(toks)-1])...))
	if len(toks) == 1 {
		parent, ok = obj, true
	}
	if !ok {
		return fmt.Errorf("%s no longer exists", p)
	}
	last := toks[len(toks)-1]
	switch c := parent.(type) {
	case map[string]any:
		if v == nil {
			delete(c, last)
		} else {
			c[last] = v
		}
		return nil
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(c) {
			return fmt.Errorf("%s no longer exists", p)
		}
		c[i] = v
		return nil
	}
	return fmt.Errorf("%s no longer exists", p)
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// rawJSON encodes v; json.Marshal sorts map keys, so equal values give equal bytes.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Values come from decoded JSON and cannot fail to encode.
		panic(fmt.Sprintf("kube: encoding %T: %v", v, err))
	}
	return b
}

// sameJSON compares two JSON texts by value (whitespace, key order and number spelling aside).
func sameJSON(a, b json.RawMessage) bool {
	va, err1 := decodeValue(a)
	vb, err2 := decodeValue(b)
	if err1 != nil || err2 != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(rawJSON(va), rawJSON(vb))
}

// decodeValue decodes JSON into the types unstructured objects hold: integers become int64 (the
// dynamic client's objects never hold float64 for an integer, and DeepCopy insists on it).
func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return fromNumbers(v), nil
}

func fromNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = fromNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fromNumbers(e)
		}
	}
	return v
}
