package cmd

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newDocsCommand() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:    "docs",
		Short:  "Generate the markdown command reference",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			root := c.Root()
			root.DisableAutoGenTag = true
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return doc.GenMarkdownTree(root, dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "docs/reference", "directory to write into")
	return c
}
