package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// ReadOptions say what a reader does with documents of other kinds.
type ReadOptions struct {
	// KeepOthers keeps them in Set.Others (for callers that also need the
	// cluster objects); otherwise they are only counted in Set.Ignored.
	KeepOthers bool
}

// ReadPaths reads manifests from files and directories. A directory is
// walked recursively for *.yaml, *.yml and *.json files (in lexical order);
// a file named explicitly is read whatever its name; "-" is stdin.
func ReadPaths(paths []string, opts ReadOptions) (*Set, error) {
	set := &Set{}
	for _, p := range paths {
		if p == "-" {
			s, err := Read(os.Stdin, "-", opts)
			if err != nil {
				return nil, err
			}
			set.Add(s)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if err := readFile(set, p, opts); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !isManifest(name) {
				return nil
			}
			return readFile(set, name, opts)
		})
		if err != nil {
			return nil, err
		}
	}
	return set, nil
}

func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(set *Set, name string, opts ReadOptions) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := Read(f, name, opts)
	if err != nil {
		return err
	}
	set.Add(s)
	return nil
}

// Read parses a stream of YAML (or JSON) documents separated by "---"
// lines; a document of kind List contributes its items. source names the
// stream in errors, which say "source:line: ..." with the line where the
// offending document starts (or, for YAML syntax errors, the line of the
// error).
func Read(r io.Reader, source string, opts ReadOptions) (*Set, error) {
	set := &Set{}
	err := splitDocuments(r, func(doc []byte, line int) error {
		if err := set.addDocument(doc, source, line, opts); err != nil {
			return fmt.Errorf("%s:%w", source, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return set, nil
}

// splitDocuments calls fn with each non-empty document of r and the line
// it starts on. A separator is a line starting with "---" followed by
// nothing but blanks or a comment.
func splitDocuments(r io.Reader, fn func(doc []byte, line int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var (
		doc   bytes.Buffer
		line  int
		start = 1
	)
	flush := func(next int) error {
		if len(bytes.TrimSpace(doc.Bytes())) > 0 {
			if err := fn(doc.Bytes(), start); err != nil {
				return err
			}
		}
		doc.Reset()
		start = next
		return nil
	}
	for sc.Scan() {
		line++
		if isSeparator(sc.Bytes()) {
			if err := flush(line + 1); err != nil {
				return err
			}
			continue
		}
		if doc.Len() == 0 && len(bytes.TrimSpace(sc.Bytes())) == 0 {
			start = line + 1 // a document starts at its first non-blank line
			continue
		}
		doc.Write(sc.Bytes())
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%d: %w", line+1, err)
	}
	return flush(line + 1)
}

func isSeparator(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t\r")
	return len(rest) == 0 || rest[0] == '#'
}

var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// addDocument decodes one document; errors start with the line number.
func (s *Set) addDocument(doc []byte, source string, line int, opts ReadOptions) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return fmt.Errorf("%d: yaml: %s", line+n-1, msg[len(m[0]):])
		}
		return fmt.Errorf("%d: %s", line, msg)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil // only comments
	}
	if err := s.addJSON(js, source, line, opts); err != nil {
		return fmt.Errorf("%d: %w", line, err)
	}
	return nil
}

func (s *Set) addJSON(js []byte, source string, line int, opts ReadOptions) error {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   json.RawMessage   `json:"metadata"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return err
	}
	if head.Kind == "" {
		return errors.New("document without kind")
	}
	if head.Kind == "List" || (strings.HasSuffix(head.Kind, "List") && head.Items != nil) {
		for i, item := range head.Items {
			if err := s.addJSON(item, source, line, opts); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return nil
	}
	var into any
	tm := TypeMeta{APIVersion: head.APIVersion}
	group := tm.Group()
	switch {
	case group == GroupPolicy && head.Kind == KindServer:
		into = appendTo(&s.Servers)
	case group == GroupPolicy && head.Kind == KindServerAuthorization:
		into = appendTo(&s.ServerAuthorizations)
	case (group == GroupPolicy || group == GroupGateway) && head.Kind == KindHTTPRoute:
		into = appendTo(&s.HTTPRoutes)
	case group == GroupGateway && head.Kind == KindGRPCRoute:
		into = appendTo(&s.GRPCRoutes)
	case group == GroupPolicy && head.Kind == KindMeshTLSAuthentication:
		into = appendTo(&s.MeshTLSAuthentications)
	case group == GroupPolicy && head.Kind == KindNetworkAuthentication:
		into = appendTo(&s.NetworkAuthentications)
	case group == GroupPolicy && head.Kind == KindAuthorizationPolicy:
		into = appendTo(&s.AuthorizationPolicies)
	case group == GroupLinkerd && head.Kind == KindServiceProfile:
		into = appendTo(&s.ServiceProfiles)
	default:
		if opts.KeepOthers {
			s.Others = append(s.Others, Document{Source: source, Line: line, APIVersion: head.APIVersion,
				Kind: head.Kind, JSON: js})
		} else {
			s.Ignored++
		}
		return nil
	}
	if err := json.Unmarshal(js, into); err != nil {
		var meta struct {
			Name any `json:"name"`
		}
		_ = json.Unmarshal(head.Metadata, &meta) // only to name the object in the error
		return fmt.Errorf("%s %q: %w", head.Kind, fmt.Sprint(meta.Name), err)
	}
	return nil
}

// appendTo grows s by one zero element and returns a pointer to it.
func appendTo[T any](s *[]T) *T {
	var zero T
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}
