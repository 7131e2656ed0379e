package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolveSource returns a local path for a `junction check` argument: the path itself when it
// exists, or, for REF:PATH (a git revision and a path in it, e.g. origin/main:deploy), the path
// extracted from that revision of the repository in the working directory into a temporary
// directory. cleanup removes what was extracted.
func resolveSource(arg string) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if _, err := os.Stat(arg); err == nil {
		return arg, cleanup, nil
	}
	ref, sub, ok := strings.Cut(arg, ":")
	if !ok || ref == "" {
		return arg, cleanup, nil // let the loader report the missing path
	}
	sub = strings.Trim(filepath.ToSlash(sub), "/")
	spec := ref
	if sub != "" {
		spec = ref + ":" + sub
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("git", "archive", "--format=tar", spec)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", cleanup, fmt.Errorf("git archive %s: %v: %s", spec, err, strings.TrimSpace(stderr.String()))
	}
	dir, err := os.MkdirTemp("", "junction-check-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if err := untar(&stdout, dir); err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("extracting %s: %w", spec, err)
	}
	return dir, cleanup, nil
}

// untar writes the regular files and directories of a tar stream under dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("%s escapes the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr) //nolint:gosec // manifests from the user's own repository
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
