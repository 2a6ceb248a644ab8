package cmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
)

// -o is the output everywhere: a format's name (table, json, yaml,
// markdown, ... as each verb supports them) writes that format to stdout,
// as kubectl's -o does; verbs that write files also take a file or
// directory name there, whose extension says what is written.

// recordingToStdout says whether a recording's -o writes to stdout, and in
// which syntax: - and yaml are YAML, json is JSON.
func recordingToStdout(output string) (recording.Encoding, bool) {
	switch output {
	case "-", "yaml":
		return recording.YAML, true
	case "json":
		return recording.JSON, true
	}
	return "", false
}

// checkRecordingOutput fails when a recording's -o file could not be
// written; commands call it before reading their input.
func checkRecordingOutput(output string) error {
	if _, ok := recordingToStdout(output); ok {
		return nil
	}
	if err := recording.CheckWritable(output); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	return nil
}

// writeRecording writes a recording where -o says: stdout, or a file
// (JSON when it ends in .json, YAML otherwise), atomically.
func writeRecording(output string, rec *recording.Recording, stdout io.Writer) error {
	enc, ok := recordingToStdout(output)
	if !ok {
		return recording.WriteFile(output, rec, stdout)
	}
	data, err := recording.Encode(rec, enc)
	if err != nil {
		return err
	}
	_, err = stdout.Write(data)
	return err
}

// synthOutputKind is where synth's -o writes its policy.
type synthOutputKind int

const (
	toStdout synthOutputKind = iota
	toFile
	toDir
)

// notPolicyFormats are -o values of other verbs that synth's -o must not
// take for a directory name.
var notPolicyFormats = []string{"json", "table", "markdown", "text", "wide", "html", "name"}

// synthOutput says where synth's -o writes: - or yaml, the YAML stream on
// stdout; a name ending in .yaml or .yml, that stream as one file; any
// other name, a directory (one folder per namespace). A format synth does
// not write, a .json name and a .yaml name that is a directory are
// refused, so a mistaken -o never silently makes a directory.
func synthOutput(output string) (synthOutputKind, error) {
	ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(output, "/")))
	dir, _ := os.Stat(output)
	switch {
	case output == "-" || output == "yaml":
		return toStdout, nil
	case slices.Contains(notPolicyFormats, output) || ext == ".json":
		return 0, usageErrorf("-o %s: synth writes YAML manifests: -o yaml (or -) for stdout, -o FILE.yaml for one file, -o DIR for a directory of files", output)
	case strings.HasSuffix(output, "/"):
		return toDir, nil
	case (ext == ".yaml" || ext == ".yml") && dir != nil && dir.IsDir():
		return 0, usageErrorf("-o %s is a directory: write %s/ to write the files into it, or name a file that is not a directory for one file", output, output)
	case ext == ".yaml" || ext == ".yml":
		if err := recording.CheckWritable(output); err != nil {
			return 0, fmt.Errorf("-o: %w", err)
		}
		return toFile, nil
	}
	return toDir, nil
}

// writePolicyFile writes the policy stream into one file, atomically.
func writePolicyFile(name string, res *synth.Result) error {
	var buf bytes.Buffer
	if err := synth.WriteStream(&buf, res); err != nil {
		return err
	}
	return recording.WriteAtomic(name, buf.Bytes())
}
