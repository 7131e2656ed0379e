package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/breaking"
)

// exitError ends the command with a status code and no further message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// checkFinding is a breaking change with the file of the NEW manifest that makes it (or the OLD
// one, for an object that was removed), for CI annotations.
type checkFinding struct {
	breaking.Finding
	File string `json:"file"`
}

// checkReport is the JSON output of `junction check`.
type checkReport struct {
	Old      string         `json:"old"`
	New      string         `json:"new"`
	Compared int            `json:"compared"`
	Breaking []checkFinding `json:"breaking"`
}

func newCheckCommand() *cobra.Command {
	var (
		output string
		now    string
	)
	cmd := &cobra.Command{
		Use:   "check OLD NEW",
		Short: "Report every change from OLD to NEW manifests that breaks the users of an API.",
		Long: `check compares two files or directories of manifests (for example the main branch and a pull
request) without a cluster and reports every breaking change. OLD and NEW are files, directories,
or REF:PATH to read PATH at a git revision of the repository in the working directory
(origin/main:deploy). It reports:

  - a MessageTopic schema incompatible with the old one under the topic's compatibility mode
  - a changed topicName, or fewer partitions
  - an ApiExposure version or route removed before its version was deprecated with a sunset
    date that has passed (removing the whole ApiExposure removes all its versions)

Objects are matched by kind, namespace ("default" when unset) and name. Without a cluster, the
schema history is the OLD schema only, so _TRANSITIVE modes compare with it alone; the operator
and the admission webhook check the whole history.

It exits 0 when nothing breaks, 1 when something does, 2 when the manifests cannot be read.`,
		Example: `  junction check origin/main:deploy deploy
  junction check --output json old/ new/`,
		Args:          cobra.ExactArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			at := time.Now()
			if now != "" {
				t, err := time.Parse(time.RFC3339, now)
				if err != nil {
					return fmt.Errorf("--now: %w", err)
				}
				at = t
			}
			report, err := check(args[0], args[1], at)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "junction check:", err)
				return exitError{code: 2}
			}
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), report)
			} else {
				writeCheckText(cmd.OutOrStdout(), report)
			}
			if err != nil {
				return err
			}
			if len(report.Breaking) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or json for CI annotations")
	cmd.Flags().StringVar(&now, "now", "", "the time sunsets are compared with (RFC 3339; default now)")
	return cmd
}

// check compares the manifests under oldArg and newArg (paths, or REF:PATH git revisions).
func check(oldArg, newArg string, now time.Time) (*checkReport, error) {
	oldM, err := loadSource(oldArg)
	if err != nil {
		return nil, fmt.Errorf("OLD: %w", err)
	}
	newM, err := loadSource(newArg)
	if err != nil {
		return nil, fmt.Errorf("NEW: %w", err)
	}
	oldPath, newPath := oldArg, newArg
	report := &checkReport{Old: oldPath, New: newPath, Breaking: []checkFinding{}}
	add := func(file string, fs []breaking.Finding) {
		for _, f := range fs {
			report.Breaking = append(report.Breaking, checkFinding{Finding: f, File: file})
		}
	}
	for _, key := range sortedKeys(oldM.topics) {
		o, n := oldM.topics[key], newM.topics[key]
		if n == nil {
			continue // deleting a topic follows its deletionPolicy; routes that used it are checked below
		}
		report.Compared++
		add(newM.files["MessageTopic/"+key], breaking.Topic(o, n, nil))
	}
	for _, key := range sortedKeys(oldM.exposures) {
		o, n := oldM.exposures[key], newM.exposures[key]
		file := newM.files["ApiExposure/"+key]
		if n == nil {
			n = &v1alpha1.ApiExposure{ObjectMeta: o.ObjectMeta}
			file = oldM.files["ApiExposure/"+key]
		}
		report.Compared++
		add(file, breaking.Exposure(o, n, now))
	}
	return report, nil
}

// loadSource loads a path or a REF:PATH revision, naming files as the argument does.
func loadSource(arg string) (*manifests, error) {
	path, cleanup, err := resolveSource(arg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	m, err := loadManifests(path)
	if err != nil || path == arg {
		return m, err
	}
	ref, sub, _ := strings.Cut(arg, ":")
	prefix := ref + ":"
	if sub = strings.Trim(sub, "/"); sub != "" {
		prefix += sub + "/"
	}
	for k, f := range m.files {
		rel, _ := filepath.Rel(path, f)
		m.files[k] = prefix + filepath.ToSlash(rel)
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeCheckText writes a report for people: one block per object, one line per change.
func writeCheckText(w io.Writer, r *checkReport) {
	if len(r.Breaking) == 0 {
		fmt.Fprintf(w, "no breaking changes (%d objects compared)\n", r.Compared)
		return
	}
	noun := "changes"
	if len(r.Breaking) == 1 {
		noun = "change"
	}
	fmt.Fprintf(w, "%d breaking %s (%d objects compared)\n", len(r.Breaking), noun, r.Compared)
	var current string
	for _, f := range r.Breaking {
		head := fmt.Sprintf("%s %s/%s (%s)", f.Kind, f.Namespace, f.Name, f.File)
		if head != current {
			fmt.Fprintf(w, "\n%s\n", head)
			current = head
		}
		fmt.Fprintf(w, "  %s [%s]\n", strings.ReplaceAll(f.String(), "\n", " "), f.Rule)
	}
}
