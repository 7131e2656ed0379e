package dev

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// StateFileName is the file, inside the sandbox directory, that tells people and scripts how
// to reach the running sandbox.
const StateFileName = "state.json"

// State is what state.json holds.
type State struct {
	// Kubeconfig is the absolute path of a kubeconfig for a system:masters user.
	Kubeconfig string `json:"kubeconfig"`
	// Kafka is the bootstrap address of the sandbox's Kafka.
	Kafka string `json:"kafka"`
	// Bridges maps "<namespace>/<deployment>" to the local addresses of that bridge's process.
	Bridges map[string]BridgeAddrs `json:"bridges"`
}

// BridgeAddrs are the loopback addresses one bridge process serves on.
type BridgeAddrs struct {
	HTTP string `json:"http"`
	GRPC string `json:"grpc"`
}

// encode renders s deterministically (encoding/json sorts map keys), with a trailing newline.
func (s State) encode() ([]byte, error) {
	if s.Bridges == nil {
		s.Bridges = map[string]BridgeAddrs{}
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// ReadState reads a state file written by a running sandbox.
func ReadState(path string) (State, error) {
	var s State
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// stateFile keeps state.json in step with the sandbox; it writes only when the content changes
// and replaces the file atomically, so a reader never sees half a file.
type stateFile struct {
	path string

	mu      sync.Mutex
	state   State
	written []byte
}

func newStateFile(path string, initial State) (*stateFile, error) {
	f := &stateFile{path: path, state: initial}
	if f.state.Bridges == nil {
		f.state.Bridges = map[string]BridgeAddrs{}
	}
	_, err := f.update(func(*State) {})
	return f, err
}

// update applies fn to the state and writes the file if the result differs from what was last
// written. It reports whether it wrote.
func (f *stateFile) update(fn func(*State)) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.state)
	data, err := f.state.encode()
	if err != nil {
		return false, err
	}
	if f.written != nil && bytes.Equal(data, f.written) {
		return false, nil
	}
	if err := writeFileAtomic(f.path, data, 0o644); err != nil {
		return false, err
	}
	f.written = data
	return true, nil
}

// snapshot returns a copy of the current state.
func (f *stateFile) snapshot() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state
	s.Bridges = make(map[string]BridgeAddrs, len(f.state.Bridges))
	for k, v := range f.state.Bridges {
		s.Bridges[k] = v
	}
	return s
}

func (f *stateFile) setBridge(key string, addrs BridgeAddrs) error {
	_, err := f.update(func(s *State) { s.Bridges[key] = addrs })
	return err
}

func (f *stateFile) removeBridge(key string) error {
	_, err := f.update(func(s *State) { delete(s.Bridges, key) })
	return err
}

// remove deletes the file: a sandbox that is gone leaves no stale addresses behind.
func (f *stateFile) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := os.Remove(f.path)
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
