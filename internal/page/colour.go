package page

import (
	"fmt"
	"math"
	"strconv"
)

// DefaultAccent is the accent when none is configured: a blue that reads at AA on both cards.
const DefaultAccent = "#2563eb"

// The card colours of the built-in page, light and dark; readableOn adjusts the accent to them.
const (
	lightCard = "#ffffff"
	darkCard  = "#171b22"
)

// readableOn returns accent, mixed towards black (on a light background) or white (on a dark
// one) just enough to reach a contrast of 4.5:1 with bg, the WCAG AA minimum for text. An
// operator can pick any brand colour, and links and focus rings drawn in it stay legible.
func readableOn(accent, bg string) string {
	a, ok1 := parseHex(accent)
	b, ok2 := parseHex(bg)
	if !ok1 || !ok2 {
		return accent
	}
	target := [3]float64{0, 0, 0}
	if luminance(b) < 0.5 {
		target = [3]float64{255, 255, 255}
	}
	for i := 0; i <= 20; i++ {
		t := float64(i) / 20
		var c [3]float64
		for k := range c {
			c[k] = math.Round(a[k] + (target[k]-a[k])*t)
		}
		if contrast(c, b) >= 4.5 {
			return toHex(c)
		}
	}
	return toHex(target)
}

func parseHex(s string) ([3]float64, bool) {
	var c [3]float64
	if len(s) == 4 && s[0] == '#' {
		s = "#" + string([]byte{s[1], s[1], s[2], s[2], s[3], s[3]})
	}
	if len(s) != 7 || s[0] != '#' {
		return c, false
	}
	for k := range c {
		v, err := strconv.ParseUint(s[1+2*k:3+2*k], 16, 8)
		if err != nil {
			return c, false
		}
		c[k] = float64(v)
	}
	return c, true
}

func toHex(c [3]float64) string {
	return fmt.Sprintf("#%02x%02x%02x", int(c[0]), int(c[1]), int(c[2]))
}

// luminance is the relative luminance of WCAG 2.x.
func luminance(c [3]float64) float64 {
	var l [3]float64
	for k, v := range c {
		v /= 255
		if v <= 0.04045 {
			l[k] = v / 12.92
		} else {
			l[k] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

func contrast(a, b [3]float64) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// AccentInks returns the accent as text colours that read at WCAG AA on the page's light and dark
// cards, for other pages of the same family (the admin page).
func AccentInks(accent string) (light, dark string) {
	return readableOn(accent, lightCard), readableOn(accent, darkCard)
}
