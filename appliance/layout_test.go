package appliance

import (
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
// types and nothing else of the project, so each can be built and tested on
// its own and none can reach the daemon's database.
func TestLeavesImportOnlyEvidence(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains(string(out), module+"/appliance/evidence") {
		t.Fatal("go list did not see the project")
	}
	pkgs, err := exec.Command("go", "list", "../...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(pkgs)) {
		rel := strings.TrimPrefix(pkg, module+"/")
		top, _, _ := strings.Cut(rel, "/")
		switch top {
		case "capture", "triage", "sync", "firmware", "hardware":
			checkDeps(t, pkg, func(dep string) bool {
				return dep == module+"/appliance/evidence" || strings.HasPrefix(dep, module+"/"+top+"/") || dep == module+"/"+top
			})
		case "central":
			// The central service is a leaf too: domain types and the sync
			// target code, never the daemon.
			checkDeps(t, pkg, func(dep string) bool {
				return dep == module+"/appliance/evidence" || dep == module+"/sync/s3" || dep == module+"/sync/target" ||
					strings.HasPrefix(dep, module+"/central/") || dep == module+"/central"
			})
		case "appliance":
			if rel == "appliance/evidence" {
				checkDeps(t, pkg, func(string) bool { return false })
			}
		}
	}
}

func checkDeps(t *testing.T, pkg string, allowed func(dep string) bool) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}`, pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == pkg {
			continue
		}
		if strings.HasPrefix(dep, module) && !allowed(dep) {
			t.Errorf("%s imports %s", pkg, dep)
		}
		if dep == "go.etcd.io/bbolt" && !strings.HasPrefix(pkg, module+"/appliance") {
			t.Errorf("%s opens bbolt; only appliance may", pkg)
		}
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
