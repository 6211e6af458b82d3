package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const specPath = "../docs/openapi.yaml"

type spec struct {
	root map[string]any
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.0") {
		t.Fatalf("%s: openapi %q, want 3.0.x", specPath, v)
	}
	return &spec{root: root}
}

// resolve follows a local $ref ("#/components/...").
func (s *spec) resolve(t *testing.T, node map[string]any) map[string]any {
	t.Helper()
	for i := 0; i < 10; i++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur any = s.root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("$ref %s does not resolve", ref)
			}
			cur = m[part]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("$ref %s does not resolve to an object", ref)
		}
		node = next
	}
	t.Fatal("$ref loop")
	return nil
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

// check validates a decoded JSON value against a schema: type, required,
// properties, items, enum, pattern, nullable, allOf and the date formats.
// It reports every mismatch with its JSON path.
func (s *spec) check(t *testing.T, where string, schema map[string]any, v any) {
	t.Helper()
	schema = s.resolve(t, schema)
	if v == nil {
		if n, _ := schema["nullable"].(bool); !n {
			t.Errorf("%s is null, and the schema does not allow null", where)
		}
		return
	}
	if all, ok := schema["allOf"].([]any); ok {
		for _, sub := range all {
			s.check(t, where, asMap(sub), v)
		}
	}
	switch typ, _ := schema["type"].(string); typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want an object", where, v)
			return
		}
		for _, r := range asSlice(schema["required"]) {
			if _, ok := m[r.(string)]; !ok {
				t.Errorf("%s has no required property %q", where, r)
			}
		}
		props := asMap(schema["properties"])
		for k, e := range m {
			if ps := asMap(props[k]); ps != nil {
				s.check(t, where+"."+k, ps, e)
			} else if ap := asMap(schema["additionalProperties"]); ap != nil {
				s.check(t, where+"."+k, ap, e)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			t.Errorf("%s = %v, want an array", where, v)
			return
		}
		for i, e := range a {
			s.check(t, fmt.Sprintf("%s[%d]", where, i), asMap(schema["items"]), e)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			t.Errorf("%s = %v, want a string", where, v)
			return
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			t.Errorf("%s = %q does not match %s", where, str, p)
		}
		switch schema["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				t.Errorf("%s = %q is not a date-time", where, str)
			}
		case "date":
			if _, err := time.Parse(time.DateOnly, str); err != nil {
				t.Errorf("%s = %q is not a date", where, str)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			t.Errorf("%s = %v, want an integer", where, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			t.Errorf("%s = %v, want a boolean", where, v)
		}
	}
	if enum := asSlice(schema["enum"]); enum != nil {
		found := false
		for _, e := range enum {
			found = found || e == v
		}
		if !found {
			t.Errorf("%s = %v is not one of %v", where, v, enum)
		}
	}
}

func asSlice(v any) []any { a, _ := v.([]any); return a }

type operation struct {
	path      string
	params    []map[string]any
	responses map[string]any
}

func (s *spec) operations(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	for path, item := range asMap(s.root["paths"]) {
		get := asMap(asMap(item)["get"])
		if get == nil {
			t.Errorf("%s has no get operation: the API is read-only", path)
			continue
		}
		op := operation{path: path, responses: asMap(get["responses"])}
		for _, p := range asSlice(get["parameters"]) {
			op.params = append(op.params, s.resolve(t, asMap(p)))
		}
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path < ops[j].path })
	return ops
}

// url fills the path parameters from their examples (or override) and
// adds query parameters.
func (op operation) url(t *testing.T, override map[string]string, query url.Values) string {
	t.Helper()
	p := op.path
	for _, param := range op.params {
		if param["in"] != "path" {
			continue
		}
		name := param["name"].(string)
		v, ok := override[name]
		if !ok {
			v = fmt.Sprint(param["example"])
		}
		p = strings.ReplaceAll(p, "{"+name+"}", url.PathEscape(v))
	}
	if strings.Contains(p, "{") {
		t.Fatalf("%s: a path parameter has no example", op.path)
	}
	if len(query) > 0 {
		p += "?" + query.Encode()
	}
	return p
}

func (s *spec) responseSchema(t *testing.T, op operation, status string) map[string]any {
	t.Helper()
	r := asMap(op.responses[status])
	if r == nil {
		return nil
	}
	r = s.resolve(t, r)
	schema := asMap(asMap(asMap(r["content"])["application/json"])["schema"])
	if schema == nil {
		t.Fatalf("%s %s: no application/json schema", op.path, status)
	}
	return schema
}

// TestOpenAPIMatchesServer checks docs/openapi.yaml against the live
// server: every path is served for the example fund, every 200 body has
// the schema's required properties and types, and the documented 400 and
// 404 answers happen.
func TestOpenAPIMatchesServer(t *testing.T) {
	s := loadSpec(t)
	l := startExample(t)
	ops := s.operations(t)
	if len(ops) < 9 {
		t.Fatalf("the spec lists %d paths", len(ops))
	}
	for _, op := range ops {
		t.Run(op.path, func(t *testing.T) {
			ok := s.responseSchema(t, op, "200")
			if ok == nil {
				t.Fatal("no 200 response documented")
			}
			examples := url.Values{}
			var base url.Values // the least query the path is served with
			for _, p := range op.params {
				if p["in"] == "query" {
					examples.Set(p["name"].(string), fmt.Sprint(p["example"]))
					if p["required"] == true {
						base = examples
					}
				}
			}
			for _, q := range []url.Values{base, examples} {
				path := op.url(t, nil, q)
				var v any
				getJSON(t, l, path, http.StatusOK, &v)
				s.check(t, path, ok, v)
			}
			if nf := s.responseSchema(t, op, "404"); nf != nil {
				path := op.url(t, map[string]string{"fund_id": "no-such-fund"}, base)
				var v any
				getJSON(t, l, path, http.StatusNotFound, &v)
				s.check(t, path, nf, v)
			}
			if br := s.responseSchema(t, op, "400"); br != nil {
				for _, p := range op.params {
					sch := asMap(p["schema"])
					if sch["type"] != "integer" {
						continue
					}
					name := p["name"].(string)
					var path string
					if p["in"] == "path" {
						path = op.url(t, map[string]string{name: "abc"}, nil)
					} else {
						path = op.url(t, nil, url.Values{name: {"-5"}})
					}
					var v any
					getJSON(t, l, path, http.StatusBadRequest, &v)
					s.check(t, path, br, v)
				}
			}
		})
	}
}

// TestOpenAPIListsEveryRoute keeps the spec complete: every GET route the
// package registers is a path of docs/openapi.yaml.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	s := loadSpec(t)
	files, _ := filepath.Glob("*.go")
	route := regexp.MustCompile(`"GET (/v1/[^"]*)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range route.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := asMap(s.root["paths"])[m[1]]; !ok {
				t.Errorf("%s registers GET %s, which docs/openapi.yaml does not describe", f, m[1])
			}
		}
	}
	if n < 9 {
		t.Fatalf("found %d routes in the package's source; the pattern is out of date", n)
	}
}

func TestOpenAPIIsJSONCompatible(t *testing.T) {
	// yaml.v3 decodes into map[string]any; a key that is not a string
	// (an unquoted 200:) would break tools that read the spec as JSON.
	s := loadSpec(t)
	if _, err := json.Marshal(s.root); err != nil {
		t.Fatalf("spec does not convert to JSON: %v", err)
	}
}
