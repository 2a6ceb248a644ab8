package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionLine says which cinch this is: the version set at release build
// time (Version), else the module version the go command stamped (go
// install ...@v1.2.3), and the VCS revision the build came from, with
// "modified" when the work tree had changes. A build without build info
// still names the Go version and platform.
func versionLine() string {
	return formatVersion(Version, readBuildInfo())
}

func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

func formatVersion(version string, info *debug.BuildInfo) string {
	var details []string
	if info != nil {
		if version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			d := "revision " + rev[:min(12, len(rev))]
			if t := settings["vcs.time"]; t != "" {
				d += " of " + t
			}
			if settings["vcs.modified"] == "true" {
				d += ", modified"
			}
			details = append(details, d)
		}
	}
	details = append(details, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
	return fmt.Sprintf("cinch %s (%s)", version, strings.Join(details, ", "))
}

func newVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cinch's version, the revision it was built from, and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(s.Out, versionLine())
			return err
		},
	}
}
