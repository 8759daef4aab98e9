package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podnet/podnet/runtime/image"
)

// newImageCommand is `podnet image pull|import|ls|rm`, on the store at <data-dir>/images.
func newImageCommand() *cobra.Command {
	dataDir := "/var/lib/podnet"
	cmd := &cobra.Command{Use: "image", Short: "Pull, import, list and remove container images"}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", dataDir, "podnet's data directory (images live in <data-dir>/images)")
	// withStore opens the data dir's image store for one command and closes it after.
	withStore := func(run func(cmd *cobra.Command, s *image.Store, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			s, err := image.Open(filepath.Join(dataDir, "images"), image.Options{
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			if err != nil {
				return err
			}
			defer s.Close()
			return run(cmd, s, args)
		}
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "pull REF",
			Short: "Pull an image from its registry (progress on stderr, the image ID on stdout)",
			Args:  cobra.ExactArgs(1),
			RunE: withStore(func(cmd *cobra.Command, s *image.Store, args []string) error {
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				img, err := s.Pull(ctx, args[0], progressPrinter(cmd.ErrOrStderr()))
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), img.ID)
				return nil
			}),
		},
		&cobra.Command{
			Use:   "import FILE...",
			Short: "Import docker-archive (docker save) or OCI-layout tarballs",
			Args:  cobra.MinimumNArgs(1),
			RunE: withStore(func(cmd *cobra.Command, s *image.Store, args []string) error {
				for _, f := range args {
					imgs, err := s.Import(cmdContext(cmd), f)
					if err != nil {
						return err
					}
					for _, img := range imgs {
						fmt.Fprintf(cmd.OutOrStdout(), "imported %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
					}
				}
				return nil
			}),
		},
		&cobra.Command{
			Use:     "ls",
			Aliases: []string{"list"},
			Short:   "List images (IMAGE TAG IMAGE ID SIZE, as crictl images)",
			Args:    cobra.NoArgs,
			RunE: withStore(func(cmd *cobra.Command, s *image.Store, _ []string) error {
				imgs, err := s.List()
				if err != nil {
					return err
				}
				return printImages(cmd.OutOrStdout(), imgs)
			}),
		},
		&cobra.Command{
			Use:     "rm REF...",
			Aliases: []string{"rmi"},
			Short:   "Remove image names; an image goes with its last tag (by ID: at once)",
			Args:    cobra.MinimumNArgs(1),
			RunE: withStore(func(cmd *cobra.Command, s *image.Store, args []string) error {
				for _, ref := range args {
					if err := s.Remove(ref); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s\n", ref)
				}
				return nil
			}),
		},
	)
	return cmd
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// progressPrinter writes a line per layer event, Downloading lines at most twice a second per layer.
func progressPrinter(w io.Writer) func(image.Progress) {
	last := map[string]time.Time{}
	return func(p image.Progress) {
		short := strings.TrimPrefix(p.Layer, "sha256:")
		if len(short) > 12 {
			short = short[:12]
		}
		if p.Status == image.StatusDownloading {
			if time.Since(last[p.Layer]) < 500*time.Millisecond && p.Current < p.Total {
				return
			}
			last[p.Layer] = time.Now()
		}
		fmt.Fprintf(w, "%s: %s %s/%s\n", short, p.Status, humanSize(p.Current), humanSize(p.Total))
	}
}

// printImages writes one row per name, as crictl images does; an unnamed image shows <none>.
func printImages(w io.Writer, imgs []*image.Image) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, img := range imgs {
		id := strings.TrimPrefix(img.ID, "sha256:")
		if len(id) > 13 {
			id = id[:13]
		}
		size := humanSize(img.Size)
		if len(img.RepoTags) == 0 {
			repo := "<none>"
			if len(img.RepoDigests) > 0 {
				repo, _, _ = strings.Cut(img.RepoDigests[0], "@")
			}
			fmt.Fprintf(tw, "%s\t<none>\t%s\t%s\n", repo, id, size)
		}
		for _, t := range img.RepoTags {
			i := strings.LastIndex(t, ":")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t[:i], t[i+1:], id, size)
		}
	}
	return tw.Flush()
}

// humanSize is docker's units.HumanSize: decimal units, four significant digits.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
