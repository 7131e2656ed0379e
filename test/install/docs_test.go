package install

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// TestValuesDocumented keeps values.yaml, the README's values table and values.schema.json in
// step: every documented key exists and is in the schema, every value is documented.
func TestValuesDocumented(t *testing.T) {
	g := NewWithT(t)
	chart := filepath.Join(repoRoot, "charts", "junction")
	var values map[string]any
	g.Expect(yaml.Unmarshal([]byte(readFile(t, filepath.Join(chart, "values.yaml"))), &values)).To(Succeed())
	var schema map[string]any
	g.Expect(json.Unmarshal([]byte(readFile(t, filepath.Join(chart, "values.schema.json"))), &schema)).To(Succeed())

	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9.]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(readFile(t, filepath.Join(chart, "README.md")), -1) {
		documented[m[1]] = true
	}
	g.Expect(documented).NotTo(BeEmpty())

	paths := map[string]bool{}
	var leaves []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if prefix != "" {
			paths[prefix] = true
		}
		if !ok || len(m) == 0 {
			leaves = append(leaves, prefix)
			return
		}
		for k, child := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, child)
		}
	}
	walk("", values)
	sort.Strings(leaves)

	for k := range documented {
		g.Expect(paths).To(HaveKey(k), "README documents %s, values.yaml has no such key", k)
		g.Expect(schemaHas(schema, k)).To(BeTrue(), "values.schema.json does not describe %s", k)
	}
	for _, leaf := range leaves {
		g.Expect(documentedOrAncestor(documented, leaf)).To(BeTrue(), "values.yaml key %s is not in the README's values table", leaf)
	}
}

func documentedOrAncestor(documented map[string]bool, path string) bool {
	for p := path; p != ""; {
		if documented[p] {
			return true
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
	return false
}

// schemaHas follows properties (and local $refs) of schema along the dotted path.
func schemaHas(schema map[string]any, path string) bool {
	node := schema
	for _, part := range strings.Split(path, ".") {
		node = deref(schema, node)
		props, _ := node["properties"].(map[string]any)
		next, ok := props[part].(map[string]any)
		if !ok {
			return false
		}
		node = next
	}
	return true
}

func deref(root, node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	defs, _ := root["$defs"].(map[string]any)
	d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	return d
}

// TestDockerfileBuildsWhatTheBinariesNeed checks the Dockerfile without a container engine:
// every package directory the manager and bridge import is copied into the build stage and not
// excluded by .dockerignore, both final stages run on the distroless base as the nonroot user,
// and no registry host is baked in.
func TestDockerfileBuildsWhatTheBinariesNeed(t *testing.T) {
	g := NewWithT(t)
	dockerfile := readFile(t, filepath.Join(repoRoot, "Dockerfile"))
	ignore := readFile(t, filepath.Join(repoRoot, ".dockerignore"))

	copied := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([a-z0-9]+)/ `).FindAllStringSubmatch(dockerfile, -1) {
		copied[m[1]] = true
		g.Expect(ignore).To(ContainSubstring("!"+m[1]+"/"), ".dockerignore excludes %s/", m[1])
	}
	g.Expect(dockerfile).To(ContainSubstring("COPY go.mod go.sum ./"))

	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/manager", "./cmd/bridge")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	g.Expect(err).NotTo(HaveOccurred())
	const module = "github.com/junction-dev/junction/"
	for _, pkg := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(pkg, module); ok {
			top := strings.SplitN(rel, "/", 2)[0]
			g.Expect(copied).To(HaveKey(top), "%s is imported but %s/ is not copied into the build stage", pkg, top)
		}
	}

	g.Expect(dockerfile).To(MatchRegexp(`(?m)^ARG BASE_IMAGE=distroless/static:nonroot$`))
	for _, target := range []string{"manager", "bridge"} {
		stage := regexp.MustCompile(`(?s)FROM \$\{BASE_IMAGE\} AS ` + target + `\n(.*?)(\n\n|$)`).FindStringSubmatch(dockerfile)
		g.Expect(stage).NotTo(BeNil(), "no %s stage on BASE_IMAGE", target)
		g.Expect(stage[1]).To(ContainSubstring("USER 65532:65532"))
		g.Expect(stage[1]).To(ContainSubstring(`ENTRYPOINT ["/` + target + `"]`))
		g.Expect(stage[1]).To(ContainSubstring("COPY --from=build /out/" + target + " /" + target))
	}
	for _, f := range []string{dockerfile, readFile(t, filepath.Join(repoRoot, "Makefile"))} {
		for _, m := range regexp.MustCompile(`(?m)^(?:ARG|FROM|[A-Z_]+_IMAGE \?=)\s*\S*`).FindAllString(f, -1) {
			g.Expect(m).NotTo(MatchRegexp(`[a-z0-9-]+\.[a-z]{2,}(:[0-9]+)?/`), "image names carry no registry host: %s", m)
		}
	}
}
