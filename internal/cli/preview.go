package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/respond"
)

func newPreviewCmd(e *env) *cobra.Command {
	var file, st, lang, format string
	var headers bool
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Print the maintenance response users would get, without a server",
		Long: `preview renders the maintenance response from a configuration exactly as a gate or the page would
answer it, and prints it: in a state (planned: no announced end; until: an end to come; overdue: the
end has passed; unplanned: the application is down outside a window), a language and a format. A
running gate shows the same at <reserved_prefix>preview?state=…&lang=…&format=… to callers with the
admin token or a bypass.`,
		Example: `  maintpage preview --config maintpage.yaml --state until --lang de --format html > preview.html
  maintpage preview --config maintpage.yaml --state overdue --format json --headers`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := file
			if path == "" {
				path = e.getenv("MAINTPAGE_CONFIG")
			}
			cfg, err := config.Load(path, e.getenv, nil)
			if err != nil {
				return usageErr(err)
			}
			p, err := respond.RenderPreview(respond.Options{Config: cfg}, respond.PreviewRequest{State: st, Lang: lang, Format: format})
			if err != nil {
				return usageErr(fmt.Errorf("preview: %w", err))
			}
			if headers {
				fmt.Fprintf(e.stdout, "Status: %d (a preview over HTTP answers 200)\n", p.Status)
				if err := p.Header.Write(e.stdout); err != nil {
					return err
				}
				fmt.Fprintln(e.stdout)
			}
			_, err = e.stdout.Write(p.Body)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "YAML configuration file (env MAINTPAGE_CONFIG)")
	cmd.Flags().StringVar(&st, "state", "planned", "the state to show: "+strings.Join(respond.PreviewStates, ", "))
	cmd.Flags().StringVar(&lang, "lang", "", "a language tag such as de or fr-CA (default: the configuration's first language)")
	cmd.Flags().StringVar(&format, "format", "html", "html, json, problem+json or text")
	cmd.Flags().BoolVar(&headers, "headers", false, "print the status and headers before the body")
	return cmd
}
