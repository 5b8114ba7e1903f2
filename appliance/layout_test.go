package appliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/edgetriage/edgetriage"

// The leaves (capture, triage, sync, firmware, hardware) may use the domain
// types and the shared media leaf and nothing else of the project, so each
// can be built and tested on its own and none can reach the daemon's
// database. Their tests are held to the same rule, with the test kit allowed
// besides; the test kit itself imports nothing of the project but the domain
// types, and media/ nothing but itself.
func TestLayout(t *testing.T) {
	pkgs := listPackages(t)
	if _, ok := pkgs[module+"/appliance/evidence"]; !ok {
		t.Fatal("go list did not see the project")
	}
	for path, p := range pkgs {
		for _, v := range layoutViolations(path, p, pkgs) {
			t.Error(v)
		}
	}
}

// layoutViolations names every import of pkg (its own, and those of its
// tests) that the dependency rules forbid.
func layoutViolations(path string, p goPackage, pkgs map[string]goPackage) []string {
	allowed := allowedFor(path)
	if allowed == nil {
		return nil
	}
	var out []string
	check := func(dep, via string) {
		if strings.HasPrefix(dep, module) && dep != path && !allowed(dep) {
			out = append(out, fmt.Sprintf("%s imports %s%s", path, dep, via))
		}
		if dep == "go.etcd.io/bbolt" && !strings.HasPrefix(path, module+"/appliance") {
			out = append(out, fmt.Sprintf("%s opens bbolt%s; only appliance may", path, via))
		}
	}
	for _, dep := range p.Deps {
		check(dep, "")
	}
	for _, imp := range append(append([]string{}, p.TestImports...), p.XTestImports...) {
		if imp == path {
			continue
		}
		check(imp, " in its tests")
		if imp == module+"/testkit" || !strings.HasPrefix(imp, module) {
			continue
		}
		for _, dep := range pkgs[imp].Deps {
			check(dep, " in its tests (through "+imp+")")
		}
	}
	return out
}

// allowedFor is the rule for one package: which project packages it may
// import; nil when the package is free to import what it needs.
func allowedFor(path string) func(dep string) bool {
	rel := strings.TrimPrefix(path, module+"/")
	top, _, _ := strings.Cut(rel, "/")
	shared := func(dep string) bool { return strings.HasPrefix(dep, module+"/media/") }
	switch {
	case rel == "appliance/evidence":
		return func(string) bool { return false }
	case top == "media":
		// The shared media leaf imports nothing of the project but itself.
		return func(dep string) bool { return shared(dep) }
	case rel == "testkit":
		return func(dep string) bool { return dep == module+"/appliance/evidence" }
	case top == "capture", top == "triage", top == "sync", top == "firmware", top == "hardware":
		return func(dep string) bool {
			return dep == module+"/appliance/evidence" || dep == module+"/testkit" || shared(dep) ||
				dep == module+"/"+top || strings.HasPrefix(dep, module+"/"+top+"/")
		}
	case top == "central":
		// The central service is a leaf too: the domain types (and the
		// custody log's proofs beside them), the sync target code, never
		// the daemon.
		return func(dep string) bool {
			return dep == module+"/appliance/evidence" || strings.HasPrefix(dep, module+"/appliance/evidence/") ||
				dep == module+"/sync/s3" || dep == module+"/sync/target" || dep == module+"/testkit" || shared(dep) ||
				dep == module+"/central" || strings.HasPrefix(dep, module+"/central/")
		}
	}
	return nil
}

type goPackage struct {
	ImportPath   string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps,TestImports,XTestImports", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// The rule catches what it is for: a leaf whose test opens the vault, and a
// test kit that reaches into the daemon.
func TestLayoutRuleCatchesALeafTestImportingTheVault(t *testing.T) {
	pkgs := map[string]goPackage{
		module + "/appliance/vault": {Deps: []string{module + "/appliance/evidence", "go.etcd.io/bbolt"}},
		module + "/testkit":         {Deps: []string{module + "/appliance/vault"}},
	}
	leaf := goPackage{Deps: []string{module + "/appliance/evidence"}, XTestImports: []string{module + "/appliance/vault"}}
	got := layoutViolations(module+"/capture/dock", leaf, pkgs)
	if len(got) == 0 || !strings.Contains(got[0], "capture/dock imports "+module+"/appliance/vault in its tests") {
		t.Fatalf("a leaf test importing the vault: %q", got)
	}
	if got := layoutViolations(module+"/testkit", pkgs[module+"/testkit"], pkgs); len(got) == 0 {
		t.Fatal("a test kit importing the vault passed")
	}
	clean := goPackage{Deps: []string{module + "/appliance/evidence"}, TestImports: []string{module + "/testkit", "testing"}}
	if got := layoutViolations(module+"/capture/dock", clean, pkgs); len(got) != 0 {
		t.Fatalf("a leaf test using the test kit: %q", got)
	}
}

// No init(), and os.Exit only in the command: the daemon's parts must be
// startable and stoppable by their owner, in tests too.
func TestNoInitNoExitOutsideCmd(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "tools" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		inCmd := strings.Contains(filepath.ToSlash(p), "/cmd/")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "init" && n.Recv == nil {
					t.Errorf("%s: func init()", fset.Position(n.Pos()))
				}
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "os" && n.Sel.Name == "Exit" && !inCmd {
					t.Errorf("%s: os.Exit outside cmd", fset.Position(n.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
