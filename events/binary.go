package events

import (
	"slices"
	"strings"
)

// binaryMode reports whether a message with headers h is a CloudEvent in
// binary content mode: it has a ce-specversion header, in any case and
// whatever its value (an empty one is then a missing specversion).
func binaryMode(h map[string][]string) bool {
	for k := range h {
		if strings.EqualFold(k, "ce-specversion") {
			return true
		}
	}
	return false
}

// headerAttrs reads the attributes of a binary-mode message from its
// headers. Header names are matched in any case (NATS keeps the case a
// publisher used; the CloudEvents SDK writes them in lower case), and
// datacontenttype is read from both Content-Type and ce-datacontenttype
// (the binding names the first, the Go SDK writes the second). Every other
// header is ignored.
func headerAttrs(h map[string][]string) envAttrs {
	a := envAttrs{
		specversion: attr{name: "ce-specversion"},
		id:          attr{name: "ce-id"},
		source:      attr{name: "ce-source"},
		typ:         attr{name: "ce-type"},
		time:        attr{name: "ce-time"},
		contentType: attr{name: "Content-Type"},
		typeWhere:   "the ce-type header",
	}
	ctHeader, ceHeader := false, false
	for k, vs := range h {
		var t *attr
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			switch name := k[3:]; {
			case strings.EqualFold(name, "specversion"):
				t = &a.specversion
			case strings.EqualFold(name, "id"):
				t = &a.id
			case strings.EqualFold(name, "source"):
				t = &a.source
			case strings.EqualFold(name, "type"):
				t = &a.typ
			case strings.EqualFold(name, "time"):
				t = &a.time
			case strings.EqualFold(name, "datacontenttype"):
				t, ceHeader = &a.contentType, true
			}
		} else if strings.EqualFold(k, "content-type") {
			t, ctHeader = &a.contentType, true
		}
		if t == nil {
			continue
		}
		for _, v := range vs {
			t.add(v)
		}
	}
	switch {
	case ctHeader && ceHeader:
		a.contentType.name = "Content-Type (with ce-datacontenttype)"
	case ceHeader:
		a.contentType.name = "ce-datacontenttype"
	}
	return a
}

// add records one value given for the attribute; the same value twice is
// one value, different ones make it attrTwice.
func (a *attr) add(v string) {
	switch a.state {
	case attrAbsent:
		a.state, a.s = attrString, v
	case attrString:
		if v != a.s {
			a.state, a.values = attrTwice, []string{a.s, v}
			a.s = ""
		}
	case attrTwice:
		if !slices.Contains(a.values, v) {
			a.values = append(a.values, v)
		}
	}
	// Header maps have no order: sort, so the message is always the same.
	slices.Sort(a.values)
}
