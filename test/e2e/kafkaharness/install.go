package kafkaharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// InstallTimeout bounds hack/kafka/install.sh (the Maven resolve when lib/ is missing).
var InstallTimeout = 10 * time.Minute

// Home returns the hack/kafka directory of this repository: $JUNCTION_KAFKA_HOME if set,
// else found from this source file's location, else by walking up from the working directory.
func Home() (string, error) {
	if d := os.Getenv("JUNCTION_KAFKA_HOME"); d != "" {
		return d, nil
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), "..", "..", "..", "hack", "kafka")
		if isFile(filepath.Join(d, "pom.xml")) {
			return filepath.Clean(d), nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "hack", "kafka", "pom.xml")) {
			return filepath.Join(d, "hack", "kafka"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("kafkaharness: no hack/kafka/pom.xml above %s (set JUNCTION_KAFKA_HOME)", wd)
		}
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

var (
	installOnce sync.Once
	installLib  string
	installErr  error
)

// Install runs hack/kafka/install.sh once per process (it is a no-op when lib/ is current)
// and returns the directory holding the Kafka jars.
func Install() (string, error) {
	installOnce.Do(func() {
		home, err := Home()
		if err != nil {
			installErr = err
			return
		}
		// Cold, Maven resolves about 45 jars (~45 MB) in well under a minute; a hung
		// download must not eat the whole test timeout.
		ctx, cancel := context.WithTimeout(context.Background(), InstallTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(home, "install.sh"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			installErr = fmt.Errorf("kafkaharness: %s/install.sh: %v\n%s", home, err, out.String())
			return
		}
		installLib = filepath.Join(home, "lib")
		if !isFile(filepath.Join(installLib, ".stamp")) {
			installErr = errors.New("kafkaharness: install.sh succeeded but " + installLib + "/.stamp is missing")
		}
	})
	return installLib, installErr
}
