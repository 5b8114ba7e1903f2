// Command edgetriage is the station appliance: the daemon (serve) and the
// tools an admin or investigator runs by hand (ingest, verify, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
	"github.com/edgetriage/edgetriage/triage/opencv"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one sub-command of the CLI.
type command struct {
	name    string
	summary string
	usage   string // synopsis and examples, shown by --help
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv is what a command may touch of the outside world, so tests can run
// commands in-process with their own output.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
	isTTY          bool
}

func commands() []command {
	return []command{
		serveCommand(), ingestCommand(), offloadCommand(), recordCommand(), verifyCommand(),
		exportCommand(), custodyCommand(), triageCommand(), redactCommand(), userCommand(), firmwareCommand(), centralCommand(), dockCommand(), versionCommand(),
		reloadCommand(), backupCommand(), restoreCommand(),
	}
}

func main() {
	// Triage and redaction run side by side already; OpenCV's own thread
	// pool only spins on cores the decoders need (triage/opencv). The
	// variable OpenCV reads, when set, still wins.
	if _, set := os.LookupEnv("OPENCV_FOR_THREADS_NUM"); !set {
		opencv.SetThreads(1)
	}
	// OpenCV's FFmpeg backend takes its protocol and format whitelists
	// from the environment only; set them before any goroutine can open
	// a clip (media/ffmpeg).
	if err := ffmpeg.GuardOpenCV(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(), isTTY: isTerminal(os.Stderr)}
	code := dispatch(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printOverview(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.stderr, "edgetriage: unknown command %q; run 'edgetriage --help' for the list\n", args[0])
	return 2
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "edgetriage: evidence appliance for police stations\n\nUsage: edgetriage <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'edgetriage <command> --help' for a command's flags and examples.")
}

// newFlags makes a flag set whose --help prints the command's usage and
// examples; parse errors are reported by the caller with exit code 2.
func newFlags(env *cliEnv, c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stdout, "%s\n\n%s\n\nFlags:\n", c.summary, c.usage)
		fs.SetOutput(env.stdout)
		fs.PrintDefaults()
		fs.SetOutput(env.stderr)
	}
	return fs
}

// parseFlags parses args and returns the exit code to stop with, if any.
func parseFlags(fs *flag.FlagSet, args []string) (stop bool, code int) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, 0
	}
	if err != nil {
		return true, 2
	}
	return false, 0
}

func newLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func versionCommand() command {
	c := command{name: "version", summary: "print the version", usage: "Usage: edgetriage version"}
	c.run = func(_ context.Context, env *cliEnv, args []string) int {
		fs := newFlags(env, c)
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		fmt.Fprintf(env.stdout, "edgetriage %s\n", version)
		return 0
	}
	return c
}
