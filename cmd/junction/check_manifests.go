package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// manifests are the Junction objects found in a file or directory, by namespace/name, with the
// file each came from. Other kinds are ignored; objects without a namespace are in "default".
type manifests struct {
	topics    map[string]*v1alpha1.MessageTopic
	exposures map[string]*v1alpha1.ApiExposure
	brokers   map[string]*v1alpha1.MessageBroker
	files     map[string]string // kind/namespace/name → file
}

func objectKey(namespace, name string) string { return namespace + "/" + name }

// loadManifests reads every .yaml, .yml and .json file under path (recursively), or path itself.
func loadManifests(path string) (*manifests, error) {
	m := &manifests{topics: map[string]*v1alpha1.MessageTopic{}, exposures: map[string]*v1alpha1.ApiExposure{},
		brokers: map[string]*v1alpha1.MessageBroker{}, files: map[string]string{}}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if !info.IsDir() {
		files = []string{path}
	} else {
		err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != path {
				return filepath.SkipDir
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	for _, f := range files {
		if err := m.loadFile(f); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *manifests) loadFile(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if meta.APIVersion != v1alpha1.GroupVersion.String() {
			continue
		}
		var obj interface {
			GetNamespace() string
			SetNamespace(string)
			GetName() string
		}
		switch meta.Kind {
		case "MessageTopic":
			obj = &v1alpha1.MessageTopic{}
		case "ApiExposure":
			obj = &v1alpha1.ApiExposure{}
		case "MessageBroker":
			obj = &v1alpha1.MessageBroker{}
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s: %s: %w", file, meta.Kind, err)
		}
		if obj.GetNamespace() == "" {
			obj.SetNamespace("default")
		}
		key := objectKey(obj.GetNamespace(), obj.GetName())
		if prev, dup := m.files[meta.Kind+"/"+key]; dup {
			return fmt.Errorf("%s: %s %s is also defined in %s", file, meta.Kind, key, prev)
		}
		m.files[meta.Kind+"/"+key] = file
		switch o := obj.(type) {
		case *v1alpha1.MessageTopic:
			m.topics[key] = o
		case *v1alpha1.ApiExposure:
			m.exposures[key] = o
		case *v1alpha1.MessageBroker:
			m.brokers[key] = o
		}
	}
}

// writeJSON writes v indented, for machines.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
