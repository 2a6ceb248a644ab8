package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Encoding is the file syntax of a recording.
type Encoding string

const (
	YAML Encoding = "yaml"
	JSON Encoding = "json"
)

// EncodingFor picks JSON for names ending in .json, YAML otherwise.
func EncodingFor(name string) Encoding {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return JSON
	}
	return YAML
}

// Encode normalizes r and writes it in enc. Equal recordings give equal
// bytes.
func Encode(r *Recording, enc Encoding) ([]byte, error) {
	r.Normalize()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if enc == JSON {
		return append(data, '\n'), nil
	}
	return yaml.JSONToYAML(data)
}

// Decode parses a recording in either syntax, refusing unknown fields and
// other versions.
func Decode(data []byte) (*Recording, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty file: not a recording")
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("not a recording: %w", err)
	}
	if head.Kind != Kind || head.APIVersion != APIVersion {
		return nil, fmt.Errorf("not a recording: apiVersion %q kind %q (want %s %s)", head.APIVersion, head.Kind, APIVersion, Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	r := New()
	if err := dec.Decode(r); err != nil {
		return nil, err
	}
	r.Normalize()
	return r, nil
}

// ReadFile reads a recording; "-" reads stdin.
func ReadFile(name string, stdin io.Reader) (*Recording, error) {
	var (
		data []byte
		err  error
	)
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	r, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// WriteFile writes r to name atomically (a temporary file in the same
// directory, then a rename), so a failure never leaves half a recording. "-"
// writes to stdout instead.
func WriteFile(name string, r *Recording, stdout io.Writer) error {
	enc := EncodingFor(name)
	data, err := Encode(r, enc)
	if err != nil {
		return err
	}
	if name == "-" {
		_, err := stdout.Write(data)
		return err
	}
	return WriteAtomic(name, data)
}

// WriteAtomic writes data to name through a temporary file and a rename.
func WriteAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file private; a recording is an ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
