package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
)

func userCommand() command {
	c := command{name: "user", summary: "manage dashboard accounts and central tokens", usage: `Usage:
  edgetriage user add       --data DIR --name NAME --role admin|staff|investigator
  edgetriage user passwd    --data DIR --name NAME
  edgetriage user role      --data DIR --name NAME --role admin|staff|investigator
  edgetriage user disable   --data DIR --name NAME [--enable]
  edgetriage user mfa-reset --data DIR --name NAME
  edgetriage user token     --data DIR --name CLIENT [--expires 4320h]
  edgetriage user tokens    --data DIR
  edgetriage user revoke    --data DIR --name CLIENT
  edgetriage user list      --data DIR

While the daemon runs, these go through its console socket (DATA/admin.sock:
root or the edgetriage group), so recording never stops; with the daemon
stopped they act on the vault directly. Either way each change is a custody
event by "console:<your user name>".

add and passwd read the password from the first line of standard input
(at least 10 characters), so it never appears in the process list or shell
history. passwd also lifts a lockout and logs the account out everywhere.
mfa-reset removes an account's second factors (a lost phone); if its role
needs one, it enrols again at its next login. token creates a bearer token
for a central system and prints it once; only its hash is kept. Client
names are unique; a token expires (--expires, default 180 days) and is
revoked by its client's name.

Examples:
  printf '%s\n' "$PW" | edgetriage user add --data /var/lib/edgetriage --name pc-1234 --role investigator
  edgetriage user disable --data /var/lib/edgetriage --name pc-1234`}
	c.run = func(ctx context.Context, env *cliEnv, args []string) int {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fs := newFlags(env, c)
			if stop, code := parseFlags(fs, args); stop {
				return code
			}
			fmt.Fprintln(env.stderr, "edgetriage user: say what to do: add, passwd, role, disable, mfa-reset, token, tokens, revoke or list; see 'edgetriage user --help'")
			return 2
		}
		sub, args := args[0], args[1:]
		fs := newFlags(env, c)
		data := fs.String("data", "./data", "vault data `directory`")
		name := fs.String("name", "", "account or client `name`")
		role := fs.String("role", "", "role for add and role: admin, staff or investigator")
		enable := fs.Bool("enable", false, "with disable: enable the account again")
		expires := fs.Duration("expires", auth.DefaultTokenTTL, "with token: how long the token is valid")
		if stop, code := parseFlags(fs, args); stop {
			return code
		}
		if sub != "list" && sub != "tokens" && *name == "" {
			fmt.Fprintf(env.stderr, "edgetriage user %s: --name is required\n", sub)
			return 2
		}
		req, err := userRequest(sub, *name, *role, *enable, *expires)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage user %s: %v\n", sub, err)
			return 1
		}
		con, err := openConsole(ctx, *data)
		if err != nil {
			fmt.Fprintf(env.stderr, "edgetriage user: %v\n", err)
			return 1
		}
		defer con.Close()
		if err := req.send(ctx, env, con); err != nil {
			fmt.Fprintf(env.stderr, "edgetriage user %s: %v\n", sub, err)
			return 1
		}
		return 0
	}
	return c
}

// adminRequest is one call of the admin API and how its answer is shown.
type adminRequest struct {
	method, path string
	body         any
	show         func(env *cliEnv, answer json.RawMessage) error
}

func (r adminRequest) send(ctx context.Context, env *cliEnv, con *console) error {
	var answer json.RawMessage
	if err := con.call(ctx, r.method, r.path, r.body, &answer); err != nil {
		return err
	}
	return r.show(env, answer)
}

func say(format string, args ...any) func(*cliEnv, json.RawMessage) error {
	return func(env *cliEnv, _ json.RawMessage) error {
		fmt.Fprintf(env.stdout, format+"\n", args...)
		return nil
	}
}

// userRequest turns a user sub-command into its admin API call; a
// password is read from standard input first, so a bad one is refused
// before anything is asked of the daemon.
func userRequest(sub, name, role string, enable bool, expires time.Duration) (adminRequest, error) {
	users, tokens := "/api/v1/admin/users", "/api/v1/admin/tokens"
	switch sub {
	case "add", "role":
		r, err := auth.ParseRole(role)
		if err != nil {
			return adminRequest{}, err
		}
		if sub == "role" {
			return adminRequest{"PATCH", users + "/" + name, map[string]string{"role": string(r)}, say("%s is now %s", name, r)}, nil
		}
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return adminRequest{}, err
		}
		return adminRequest{"POST", users, map[string]string{"name": name, "role": string(r), "password": pw}, say("added %s (%s)", name, r)}, nil
	case "passwd":
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return adminRequest{}, err
		}
		return adminRequest{"PATCH", users + "/" + name, map[string]string{"password": pw}, say("password of %s changed", name)}, nil
	case "disable":
		return adminRequest{"PATCH", users + "/" + name, map[string]bool{"disabled": !enable},
			say("%s %s", name, map[bool]string{true: "enabled", false: "disabled"}[enable])}, nil
	case "mfa-reset":
		return adminRequest{"DELETE", users + "/" + name + "/mfa", nil, say("second factors of %s removed", name)}, nil
	case "token":
		return adminRequest{"POST", tokens, map[string]string{"name": name, "expires": expires.String()}, showToken}, nil
	case "tokens":
		return adminRequest{"GET", tokens, nil, showTokens}, nil
	case "revoke":
		return adminRequest{"DELETE", tokens + "/" + name, nil, say("token of %s revoked", name)}, nil
	case "list":
		return adminRequest{"GET", users, nil, showUsers}, nil
	}
	return adminRequest{}, fmt.Errorf("unknown action %q: want add, passwd, role, disable, mfa-reset, token, tokens, revoke or list", sub)
}

func showToken(env *cliEnv, answer json.RawMessage) error {
	var t struct {
		Name    string    `json:"name"`
		Token   string    `json:"token"`
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal(answer, &t); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, t.Token)
	fmt.Fprintf(env.stderr, "token for %s expires %s\n", t.Name, t.Expires.Format(time.RFC3339))
	return nil
}

func showTokens(env *cliEnv, answer json.RawMessage) error {
	var toks []struct {
		Name             string
		Created, Expires time.Time
		Expired          bool
	}
	if err := json.Unmarshal(answer, &toks); err != nil {
		return err
	}
	for _, t := range toks {
		state := ""
		if t.Expired {
			state = "  (expired)"
		}
		fmt.Fprintf(env.stdout, "%-20s created %s  expires %s%s\n", t.Name, t.Created.Format(time.RFC3339), t.Expires.Format(time.RFC3339), state)
	}
	return nil
}

func showUsers(env *cliEnv, answer json.RawMessage) error {
	var users []auth.UserInfo
	if err := json.Unmarshal(answer, &users); err != nil {
		return err
	}
	for _, u := range users {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		mfa := strings.Join(u.Factors, "+")
		switch {
		case mfa == "" && u.MFARequired:
			mfa = "no second factor (enrols at next login)"
		case mfa == "":
			mfa = "no second factor"
		}
		fmt.Fprintf(env.stdout, "%-20s %-13s %-9s %s\n", u.Name, u.Role, state, mfa)
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
