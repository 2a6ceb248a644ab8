package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	return toYAML(data)
}

// splicePlaceholder marks, in toYAML's skeleton, where a top-level list
// goes.
const splicePlaceholder = "cinch-yaml-splice-"

// toYAML converts a recording's JSON to YAML byte for byte as
// yaml.JSONToYAML does, but one element of each top-level list at a time.
// The YAML emitter keeps every event of a document until the document
// ends: a 23 MB recording of 5,000 workloads took 25 s and 4 GB of
// allocations in one document, while the documents of single edges stay
// small. Each element is rendered as the only element of its list under
// its own key, which places it at the column it has in the whole
// document, so line folding and indentation come out the same; the
// skeleton (every other field, and the order of the keys) is rendered as
// one document with a placeholder for each list.
func toYAML(js []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, err
	}
	lists := map[string][]json.RawMessage{}
	for k, v := range top {
		if len(v) == 0 || v[0] != '[' {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			continue
		}
		lists[k] = items
		top[k] = json.RawMessage(strconv.Quote(splicePlaceholder + k))
	}
	skeleton, err := json.Marshal(top)
	if err != nil {
		return nil, err
	}
	doc, err := yaml.JSONToYAML(skeleton)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(js))
	done := 0
	for line := range bytes.Lines(doc) {
		key, items, ok := spliced(line, lists)
		if !ok {
			out.Write(line)
			continue
		}
		done++
		out.WriteString(key + ":\n")
		wrapped := []byte(strconv.Quote(key))
		for _, item := range items {
			one, err := yaml.JSONToYAML(slices.Concat([]byte("{"), wrapped, []byte(":["), item, []byte("]}")))
			if err != nil {
				return nil, err
			}
			_, body, _ := bytes.Cut(one, []byte("\n"))
			out.Write(body)
		}
	}
	if done != len(lists) {
		// A key the emitter writes otherwise than plainly: render the
		// one document after all.
		return yaml.JSONToYAML(js)
	}
	return out.Bytes(), nil
}

// spliced says whether line is a top-level key whose value is a list's
// placeholder, and returns the key and the list.
func spliced(line []byte, lists map[string][]json.RawMessage) (string, []json.RawMessage, bool) {
	key, value, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(": "+splicePlaceholder))
	if !ok || len(key) == 0 || key[0] == ' ' || string(value) != string(key) {
		return "", nil, false
	}
	items, ok := lists[string(key)]
	return string(key), items, ok
}

// Decode parses a recording in either syntax, refusing unknown fields and
// other versions.
func Decode(data []byte) (*Recording, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty file: not a recording")
	}
	js := data
	isJSON := bytes.TrimLeft(data, " \t\r\n")[0] == '{'
	if !isJSON {
		// JSON is YAML too, but the YAML parser takes ten times as long
		// over it as encoding/json does.
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, err
		}
	}
	// atLine names the line of a JSON file an error is at; YAML errors
	// name theirs already.
	atLine := func(err error) error {
		var syntax *json.SyntaxError
		if isJSON && errors.As(err, &syntax) && syntax.Offset <= int64(len(data)) {
			return fmt.Errorf("line %d: %w", 1+bytes.Count(data[:syntax.Offset], []byte("\n")), err)
		}
		return err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("not a recording: %w", atLine(err))
	}
	if head.Kind != Kind || !slices.Contains(ReadsVersions, head.APIVersion) {
		return nil, fmt.Errorf("not a recording: apiVersion %q kind %q (want %s %s)", head.APIVersion, head.Kind, APIVersion, Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	r := New()
	if err := dec.Decode(r); err != nil {
		return nil, locate(data, err)
	}
	r.APIVersion = APIVersion
	r.Normalize()
	return r, nil
}

// unknownField is how encoding/json names a field DisallowUnknownFields
// refused.
var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// locate names the line of the original document an unknown field is on:
// decoding goes through JSON, which loses the YAML's lines.
func locate(data []byte, err error) error {
	m := unknownField.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	key := regexp.MustCompile(`^\s*(- )?("` + regexp.QuoteMeta(m[1]) + `"|'` + regexp.QuoteMeta(m[1]) + `'|` + regexp.QuoteMeta(m[1]) + `)\s*:`)
	for i, line := range bytes.Split(data, []byte("\n")) {
		if key.Match(line) {
			return fmt.Errorf("line %d: unknown field %q (not in %s %s: was this file written by a newer cinch, or edited?)", i+1, m[1], APIVersion, Kind)
		}
	}
	return fmt.Errorf("unknown field %q (not in %s %s: was this file written by a newer cinch, or edited?)", m[1], APIVersion, Kind)
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

// CheckWritable fails when name could not be written as WriteAtomic writes
// it: a directory, or a file in a directory that does not exist or cannot
// be written. Commands call it before reading their input, which can take
// long, so a typo in -o fails at once. "-" (stdout) is always writable.
func CheckWritable(name string) error {
	if name == "-" {
		return nil
	}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist", name, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: no permission to write in %s", name, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	}
	tmp.Close()
	return os.Remove(tmp.Name())
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
