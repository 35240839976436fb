package cfapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Metadata keys maintpage owns on a switched route. The label makes the routes of an app in
// maintenance findable with one label_selector query even when the app is no longer a destination;
// its value is the app's GUID, which always fits CC's 63 characters (an app name may not). The
// annotation holds what the route served before (labels are too small for that). CC wants a key
// prefix in DNS form with at least one dot (cloud_controller_ng: MetadataValidatorHelper#key_error
// with DomainDecorator::DOMAIN_REGEX), so the prefix is the project's GitHub Pages domain, which
// the project's organisation owns.
const (
	MetadataPrefix  = "maintpage.github.io"
	LabelApp        = MetadataPrefix + "/app"
	AnnotationSaved = MetadataPrefix + "/saved"
	// maxAnnotation is CC's limit on an annotation value.
	maxAnnotation = 5000
	savedVersion  = 1
)

// Dest is one destination of a route: the app and process that get the traffic, on which port and
// protocol, and its weight when the route splits traffic. GUID is CC's id of the mapping, which does
// not survive a restore and so is not saved.
type Dest struct {
	GUID     string `json:"-"`
	App      string `json:"app"`
	Process  string `json:"process,omitempty"`
	Port     *int   `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Weight   *int   `json:"weight,omitempty"`
}

func (d Dest) process() string {
	if d.Process == "" {
		return "web"
	}
	return d.Process
}

// satisfiedBy says whether cur is the destination d asks for; a port or protocol left out of d is
// whatever CC picked by default.
func (d Dest) satisfiedBy(cur Dest) bool {
	return d.App == cur.App && d.process() == cur.process() &&
		(d.Port == nil || cur.Port != nil && *d.Port == *cur.Port) &&
		(d.Protocol == "" || d.Protocol == cur.Protocol)
}

// Saved is the annotation value: whose route it was, since when and by whom it is in maintenance, and
// exactly what it served. Short keys keep big routes under CC's 5000-byte limit.
type Saved struct {
	Version        int       `json:"v"`
	App            string    `json:"app"`
	AppName        string    `json:"app_name"`
	MaintenanceApp string    `json:"maint"`
	Since          time.Time `json:"since"`
	By             string    `json:"by"`
	Destinations   []Dest    `json:"dests"`
}

func (s Saved) encode() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encoding the saved destinations: %w", err)
	}
	if len(b) > maxAnnotation {
		return "", fmt.Errorf("the %d destinations take %d bytes, more than the %d an annotation may hold", len(s.Destinations), len(b), maxAnnotation)
	}
	return string(b), nil
}

func parseSaved(raw string) (*Saved, error) {
	var s Saved
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("annotation %s is not maintpage's JSON: %w", AnnotationSaved, err)
	}
	if s.Version != savedVersion {
		return nil, fmt.Errorf("annotation %s has version %d, this maintpage reads version %d: use a maintpage of the same release", AnnotationSaved, s.Version, savedVersion)
	}
	if s.App == "" || len(s.Destinations) == 0 {
		return nil, fmt.Errorf("annotation %s names no app or no destinations", AnnotationSaved)
	}
	return &s, nil
}

func stripGUIDs(ds []Dest) []Dest {
	out := make([]Dest, len(ds))
	for i, d := range ds {
		d.GUID = ""
		out[i] = d
	}
	return out
}

// describe renders destinations for people: app names, with the process and port when not plain.
func describe(ds []Dest, names map[string]string) string {
	if len(ds) == 0 {
		return "(nothing)"
	}
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		name := names[d.App]
		if name == "" {
			name = "app " + d.App
		}
		s += name
		extra := ""
		if d.process() != "web" {
			extra = d.process()
		}
		if d.Port != nil && *d.Port != 8080 {
			extra += ":" + strconv.Itoa(*d.Port)
		}
		if d.Protocol == "http2" {
			extra += " http2"
		}
		if d.Weight != nil {
			extra += " " + strconv.Itoa(*d.Weight) + "%"
		}
		if extra != "" {
			s += " (" + extra + ")"
		}
	}
	return s
}
