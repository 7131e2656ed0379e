package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strings"
)

// RenderHTML renders an OpenAPI document built by Build as one self-contained HTML page for
// people: no scripts, no CDN, no external styles, so it works in air-gapped clusters and under
// a strict Content-Security-Policy. It reads the document itself, so the page cannot say
// something the document does not.
func RenderHTML(doc []byte) ([]byte, error) {
	var d struct {
		Info struct {
			Title, Version, Description string
		}
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas         map[string]json.RawMessage
			SecuritySchemes map[string]struct{ Description string }
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi: rendering docs: %w", err)
	}
	type response struct{ Code, Description string }
	type operation struct {
		Anchor, Method, Path, ID, Summary, Description, Sunset string
		Deprecated                                             bool
		Parameters                                             []string
		MediaTypes                                             []string
		Responses                                              []response
	}
	type version struct {
		Name       string
		Deprecated bool
		Operations []operation
	}
	byVersion := map[string]*version{}
	var paths []string
	for p := range d.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		methods := make([]string, 0, len(d.Paths[p]))
		for m := range d.Paths[p] {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			var op struct {
				OperationID string `json:"operationId"`
				Summary     string
				Description string
				Deprecated  bool
				Sunset      string `json:"x-sunset"`
				Parameters  []struct{ Name, In, Description string }
				RequestBody struct{ Content map[string]json.RawMessage }
				Responses   map[string]struct{ Description string }
			}
			if err := json.Unmarshal(d.Paths[p][m], &op); err != nil {
				return nil, fmt.Errorf("openapi: rendering %s %s: %w", m, p, err)
			}
			o := operation{Anchor: op.OperationID, Method: strings.ToUpper(m), Path: p, ID: op.OperationID, Summary: op.Summary,
				Description: op.Description, Deprecated: op.Deprecated, Sunset: op.Sunset}
			for _, prm := range op.Parameters {
				o.Parameters = append(o.Parameters, fmt.Sprintf("%s (%s): %s", prm.Name, prm.In, prm.Description))
			}
			for mt := range op.RequestBody.Content {
				o.MediaTypes = append(o.MediaTypes, mt)
			}
			sort.Strings(o.MediaTypes)
			for code, r := range op.Responses {
				o.Responses = append(o.Responses, response{code, r.Description})
			}
			sort.Slice(o.Responses, func(i, j int) bool { return o.Responses[i].Code < o.Responses[j].Code })
			vname := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 2)[0]
			v := byVersion[vname]
			if v == nil {
				v = &version{Name: vname}
				byVersion[vname] = v
			}
			v.Deprecated = v.Deprecated || op.Deprecated
			v.Operations = append(v.Operations, o)
		}
	}
	var versions []*version
	for _, v := range byVersion {
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].Name < versions[j].Name })
	type schema struct{ Name, JSON string }
	var schemas []schema
	for name, raw := range d.Components.Schemas {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, err
		}
		schemas = append(schemas, schema{name, buf.String()})
	}
	sort.Slice(schemas, func(i, j int) bool { return schemas[i].Name < schemas[j].Name })
	var security []string
	for name, s := range d.Components.SecuritySchemes {
		security = append(security, name+": "+s.Description)
	}
	sort.Strings(security)
	var out bytes.Buffer
	err := docsTemplate.Execute(&out, map[string]any{
		"Title": d.Info.Title, "Version": d.Info.Version, "Description": d.Info.Description,
		"Versions": versions, "Schemas": schemas, "Security": security,
	})
	return out.Bytes(), err
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}.dep{opacity:.8;border-color:#c90}
.badge{background:#c90;color:#fff;padding:0 .4rem;border-radius:3px;font-size:.8em}.m{font-weight:bold}
</style></head><body>
<h1>{{.Title}}</h1><p>{{.Description}}</p>
<p>Versions: {{.Version}}. Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
{{if .Security}}<h2>Authentication</h2><ul>{{range .Security}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{range .Versions}}<section id="{{.Name}}"><h2>{{.Name}}{{if .Deprecated}} <span class="badge">deprecated</span>{{end}}</h2>
{{range .Operations}}<div class="op{{if .Deprecated}} dep{{end}}" id="{{.Anchor}}">
<p><span class="m">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}{{if .Deprecated}} <span class="badge">deprecated{{if .Sunset}}, sunset {{.Sunset}}{{end}}</span>{{end}}</p>
<p>{{.Description}}</p>
{{if .Parameters}}<p>Parameters:</p><ul>{{range .Parameters}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .MediaTypes}}<p>Request body: {{range $i, $m := .MediaTypes}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}</p>{{end}}
<p>Responses:</p><ul>{{range .Responses}}<li><code>{{.Code}}</code> {{.Description}}</li>{{end}}</ul>
</div>{{end}}</section>{{end}}
<h2>Schemas</h2>{{range .Schemas}}<h3 id="schema-{{.Name}}">{{.Name}}</h3><pre>{{.JSON}}</pre>{{end}}
</body></html>
`))
