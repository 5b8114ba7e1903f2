package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/appliance/auth"
)

func userCommand() command {
	c := command{name: "user", summary: "manage dashboard accounts and central tokens", usage: `Usage:
  edgetriage user add     --data DIR --name NAME --role admin|staff|investigator
  edgetriage user passwd  --data DIR --name NAME
  edgetriage user disable --data DIR --name NAME [--enable]
  edgetriage user token   --data DIR --name CLIENT [--expires 4320h]
  edgetriage user tokens  --data DIR
  edgetriage user revoke  --data DIR --name CLIENT
  edgetriage user list    --data DIR

add and passwd read the password from the first line of standard input
(at least 10 characters), so it never appears in the process list or shell
history. passwd also lifts a lockout. token creates a bearer token for a
central system and prints it once; only its hash is kept. Client names are
unique; a token expires (--expires, default 180 days) and is revoked by its
client's name. Issuing and revoking tokens are custody events. The daemon must
be stopped: the vault's index is held by one process at a time.

Examples:
  printf '%s\n' "$PW" | edgetriage user add --data ./data --name admin --role admin
  edgetriage user disable --data ./data --name pc-1234`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fs := newFlags(env, c)
			if stop, code := parseFlags(fs, args); stop {
				return code
			}
			fmt.Fprintln(env.stderr, "edgetriage user: say what to do: add, passwd, disable, token, tokens, revoke or list; see 'edgetriage user --help'")
			return 2
		}
		sub, args := args[0], args[1:]
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		name := fs.String("name", "", "account or client `name`")
		role := fs.String("role", "", "role for add: admin, staff or investigator")
		enable := fs.Bool("enable", false, "with disable: enable the account again")
		expires := fs.Duration("expires", auth.DefaultTokenTTL, "with token: how long the token is valid")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if sub != "list" && sub != "tokens" && *name == "" {
			fmt.Fprintf(env.stderr, "edgetriage user %s: --name is required\n", sub)
			return 2
		}
		v, err := appliance.OpenVault(ctx, *data, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage user: %v\n", err)
			return 1
		}
		defer v.Close()
		svc := auth.New(v.State("auth"), v, auth.Options{})
		if err := runUser(ctx, env, svc, sub, *name, *role, *enable, *expires); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage user %s: %v\n", sub, err)
			return 1
		}
		return 0
	}
	return c
}

// cliActor is who account and token changes made at the console are by.
const cliActor = "appliance:cli"

func runUser(ctx context.Context, env *cliEnv, svc *auth.Service, sub, name, role string, enable bool, expires time.Duration) error {
	switch sub {
	case "add":
		r, err := auth.ParseRole(role)
		if err != nil {
			return err
		}
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		if err := svc.AddUser(ctx, name, r, pw); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "added %s (%s)\n", name, r)
	case "passwd":
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, name, pw); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "password of %s changed\n", name)
	case "disable":
		if err := svc.SetDisabled(ctx, name, !enable); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s %s\n", name, map[bool]string{true: "enabled", false: "disabled"}[enable])
	case "token":
		secret, tok, err := svc.AddToken(ctx, cliActor, name, expires)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, secret)
		fmt.Fprintf(env.stderr, "token for %s expires %s\n", name, tok.Expires.Format(time.RFC3339))
	case "tokens":
		toks, err := svc.Tokens()
		if err != nil {
			return err
		}
		for _, t := range toks {
			fmt.Fprintf(env.stdout, "%-20s created %s  expires %s\n", t.Name, t.Created.Format(time.RFC3339), t.ExpiresAt().Format(time.RFC3339))
		}
	case "revoke":
		if err := svc.RevokeToken(ctx, cliActor, name); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "token of %s revoked\n", name)
	case "list":
		users, err := svc.Users()
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(env.stdout, "%-20s %-13s %s\n", u.Name, u.Role, state)
		}
	default:
		return fmt.Errorf("unknown action %q: want add, passwd, disable, token, tokens, revoke or list", sub)
	}
	return nil
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on standard input (pipe it in: printf '%%s\\n' \"$PW\" | edgetriage user ...)")
	}
	return pw, nil
}
