package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runCheck runs `junction check` with args and returns stdout and the exit code.
func runCheck(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := newCheckCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var exit exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String() + errOut.String(), exit.code
	default:
		t.Fatalf("check %v: %v", args, err)
		return "", -1
	}
}

func fixture(name string) string { return filepath.Join("testdata", "check", name) }

func TestCheckFixtures(t *testing.T) {
	const before, after = "--now=2027-01-01T00:00:00Z", "--now=2027-07-01T00:00:00Z"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		golden   string
	}{
		{name: "unchanged", args: []string{before, fixture("base"), fixture("base")}},
		{name: "compatible changes", args: []string{before, fixture("base"), fixture("nonbreaking")}},
		{name: "a version removed after its sunset", args: []string{after, fixture("base"), fixture("retired")}},
		{name: "the same removal before its sunset", args: []string{before, fixture("base"), fixture("retired")}, wantCode: 1},
		{name: "breaking changes", args: []string{before, fixture("base"), fixture("breaking")}, wantCode: 1, golden: "breaking.txt"},
		{name: "a single file each", args: []string{before, filepath.Join(fixture("base"), "topics.yaml"), filepath.Join(fixture("breaking"), "topics.yaml")}, wantCode: 1},
		{name: "unreadable", args: []string{fixture("base"), fixture("missing")}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runCheck(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			if tt.wantCode == 0 && !strings.HasPrefix(out, "no breaking changes") {
				t.Errorf("output: %s", out)
			}
			if tt.golden == "" {
				return
			}
			path := filepath.Join("testdata", "check", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("report differs from %s (go test -update to rewrite):\n%s", path, out)
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	out, code := runCheck(t, "--now=2027-01-01T00:00:00Z", "-o", "json", fixture("base"), fixture("breaking"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var report checkReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	rules := map[string]int{}
	for _, f := range report.Breaking {
		rules[f.Rule]++
		if f.File == "" || f.Kind == "" || f.Name == "" || f.Field == "" || f.Message == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	want := map[string]int{"IncompatibleSchema": 3, "ImmutableField": 1, "PartitionDecrease": 1, "VersionRemoved": 2, "RouteRemoved": 1}
	for rule, n := range want {
		if rules[rule] != n {
			t.Errorf("%s: %d findings, want %d (%v)", rule, rules[rule], n, rules)
		}
	}
	first := report.Breaking[0]
	if first.Pointer != "/properties/amount" || first.File != filepath.Join(fixture("breaking"), "topics.yaml") {
		t.Errorf("first finding %+v", first)
	}
	if report.Compared != 4 {
		t.Errorf("compared %d", report.Compared)
	}

	out, code = runCheck(t, "-o", "json", fixture("base"), fixture("base"))
	if code != 0 || !strings.Contains(out, `"breaking": []`) {
		t.Errorf("clean JSON report: exit %d\n%s", code, out)
	}
}

func TestCheckGitRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	base, err := filepath.Abs(fixture("base"))
	if err != nil {
		t.Fatal(err)
	}
	breakingDir, _ := filepath.Abs(fixture("breaking"))
	repo := t.TempDir()
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitRun("init", "-q")
	if err := os.MkdirAll(filepath.Join(repo, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"broker.yaml", "topics.yaml", "exposures.yaml"} {
		data, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "deploy", f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun("add", "deploy")
	gitRun("commit", "-q", "-m", "base")
	t.Chdir(repo)

	out, code := runCheck(t, "--now=2027-01-01T00:00:00Z", "HEAD:deploy", breakingDir)
	if code != 1 || !strings.Contains(out, "8 breaking changes") || !strings.Contains(out, "ApiExposure shop/legacy-api (HEAD:deploy/exposures.yaml)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if out, code := runCheck(t, "HEAD:deploy", "HEAD:deploy"); code != 0 {
		t.Fatalf("same revision: exit %d\n%s", code, out)
	}
	if out, code := runCheck(t, "no-such-ref:deploy", "deploy"); code != 2 || !strings.Contains(out, "git archive no-such-ref:deploy") {
		t.Fatalf("bad revision: exit %d\n%s", code, out)
	}
}
