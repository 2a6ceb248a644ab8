package policy

import (
	"bufio"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Encode normalizes s in place (see Normalize) and writes its policy
// objects as a YAML stream, each document preceded by "---". Mapping keys
// are written in sorted order, so the same set always gives the same
// bytes. Others are not written.
func Encode(w io.Writer, s *Set) error {
	s.Normalize()
	bw := bufio.NewWriter(w)
	for _, o := range s.Objects() {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode %s: %w", KeyOf(o), err)
		}
		bw.WriteString("---\n")
		bw.Write(b)
	}
	return bw.Flush()
}
