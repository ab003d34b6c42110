package steady_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goNames is what the module's Go files declare: per package name, its
// top-level names; per type name (in any package), its methods and fields;
// per file, the functions it declares.
type goNames struct {
	pkgs     map[string]map[string]bool
	members  map[string]map[string]bool
	funcs    map[string]map[string]bool // slash path from the root → func names
	comments map[string][]string        // per file of a non-test, non-main package, its comments
	pkgOf    map[string]string          // per file, its package's name
}

func readGoNames(t *testing.T) goNames {
	t.Helper()
	n := goNames{pkgs: map[string]map[string]bool{}, members: map[string]map[string]bool{}, funcs: map[string]map[string]bool{},
		comments: map[string][]string{}, pkgOf: map[string]string{}}
	add := func(m map[string]map[string]bool, k, v string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][v] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return err
		}
		pkg := strings.TrimSuffix(f.Name.Name, "_test")
		if filepath.Dir(path) == "." {
			pkg = "steady"
		}
		file := filepath.ToSlash(path)
		n.pkgOf[file] = pkg
		if !strings.HasSuffix(path, "_test.go") && pkg != "main" {
			for _, cg := range f.Comments {
				n.comments[file] = append(n.comments[file], cg.Text())
			}
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				add(n.funcs, file, decl.Name.Name)
				if decl.Recv == nil {
					add(n.pkgs, pkg, decl.Name.Name)
					continue
				}
				add(n.members, recvName(decl.Recv.List[0].Type), decl.Name.Name)
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						for _, id := range spec.Names {
							add(n.pkgs, pkg, id.Name)
						}
					case *ast.TypeSpec:
						add(n.pkgs, pkg, spec.Name.Name)
						switch typ := spec.Type.(type) {
						case *ast.StructType:
							for _, fl := range typ.Fields.List {
								for _, id := range fl.Names {
									add(n.members, spec.Name.Name, id.Name)
								}
								if len(fl.Names) == 0 { // embedded: its name is its type's
									add(n.members, spec.Name.Name, recvName(fl.Type))
								}
							}
						case *ast.InterfaceType:
							for _, m := range typ.Methods.List {
								for _, id := range m.Names {
									add(n.members, spec.Name.Name, id.Name)
								}
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// recvName is the name of a receiver's or embedded field's type.
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// foreign are packages outside the module that the docs cite by name.
var foreign = map[string]bool{
	"nats": true, "jetstream": true, "server": true, "bbolt": true, "bolt": true, "prometheus": true,
	"promhttp": true, "errors": true, "fmt": true, "context": true, "time": true, "slog": true,
	"syscall": true, "os": true, "runtime": true, "debug": true, "metrics": true, "testing": true,
	"synctest": true, "json": true, "binary": true, "sync": true, "atomic": true, "http": true,
	"net": true, "signal": true, "goleak": true, "chromedp": true, "math": true, "rand": true,
	"unsafe": true, "io": true, "exec": true, "filepath": true, "strconv": true, "slices": true,
	"gob": true, "reflect": true, "pprof": true, "t": true, "b": true, "suture": true,
	"f": true, // an *os.File in durability.md
	// Types of other modules.
	"Consumer": true, "Conn": true, "Msg": true, "Tx": true, "DB": true,
}

// foreignNames are other modules' names the docs compare steady with.
var foreignNames = map[string]bool{"ErrDoNotRestart": true, "ErrTerminateSupervisorTree": true}

// receivers are the variable names the docs' examples give steady's types.
var receivers = map[string]string{"a": "Actor", "s": "Step", "g": "Graph"}

var (
	// A link to a test, benchmark, example or fuzz function: [TestX](../x_test.go).
	testLink = regexp.MustCompile(`\[((?:Test|Benchmark|Example|Fuzz)\w*)\]\(([^)#\s]+)(?:#[^)]*)?\)`)
	// Any relative link to a file of the repository.
	fileLink = regexp.MustCompile(`\]\(((?:\.\./|\./)?[\w./-]+?)(?:#[^)]*)?\)`)
	// A code span holding a qualified Go name: `A.B`, `A.B()`, `a.B(x, y)`.
	qualified = regexp.MustCompile("`(?:\\*)?([A-Za-z]\\w*)\\.([A-Z]\\w*)(?:\\[[^`\\]]*\\])?(?:\\([^`]*\\))?`")
	// A doc link in a Go comment: [Name], [Type.Method], [pkg.Name].
	docLink = regexp.MustCompile(`(?:^|[^\w\])])\[(\*?[A-Za-z]\w*(?:\.[A-Z]\w*)?)\]([^(:]|$)`)
	// A code span holding a name steady's own conventions mark as Go: an
	// error, an event, a default, a test.
	marked = regexp.MustCompile("`((?:Err|Event|Default|Test|Benchmark)[A-Z]\\w*)`")
)

// TestDocsNameWhatExists: every test a document links to exists in the
// file it links, every file it links exists, and every Go name it cites
// (`Type.Method`, `pkg.Name`, `ErrX`, `EventX`, `DefaultX`) is declared
// somewhere in the module. A rename that forgets the docs fails here.
func TestDocsNameWhatExists(t *testing.T) {
	names := readGoNames(t)
	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md", "BENCHMARKS.md")
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		dir := filepath.Dir(doc)
		for _, m := range testLink.FindAllStringSubmatch(text, -1) {
			file := filepath.ToSlash(filepath.Join(dir, m[2]))
			if fns, ok := names.funcs[file]; !ok {
				t.Errorf("%s links %s to %s, which is not a Go file of the module", doc, m[1], m[2])
			} else if !fns[m[1]] {
				t.Errorf("%s links %s to %s, which does not declare it", doc, m[1], m[2])
			}
		}
		for _, m := range fileLink.FindAllStringSubmatch(text, -1) {
			if strings.Contains(m[1], "://") || !strings.ContainsAny(m[1], "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
				t.Errorf("%s links %s, which does not exist", doc, m[1])
			}
		}
		for _, m := range qualified.FindAllStringSubmatch(text, -1) {
			a, b := m[1], m[2]
			if typ, ok := receivers[a]; ok {
				a = typ
			}
			switch {
			case foreign[a]:
			case names.pkgs[a] != nil:
				if !names.pkgs[a][b] {
					t.Errorf("%s cites %s.%s: package %s declares no %s", doc, a, b, a, b)
				}
			case names.members[a] != nil:
				if !names.members[a][b] {
					t.Errorf("%s cites %s.%s: type %s has no method or field %s", doc, a, b, a, b)
				}
			default:
				t.Errorf("%s cites %s.%s: the module declares no package or type %s (add it to foreign if it is another module's)", doc, a, b, a)
			}
		}
		for _, m := range marked.FindAllStringSubmatch(text, -1) {
			found := foreignNames[m[1]]
			for _, decl := range names.pkgs {
				found = found || decl[m[1]]
			}
			if !found {
				t.Errorf("%s cites %s, which the module does not declare", doc, m[1])
			}
		}
	}
}

// TestDocLinksNameWhatExists: every doc link in the module's Go comments
// ([Name], [Type.Method], [pkg.Name]) names something declared.
func TestDocLinksNameWhatExists(t *testing.T) {
	names := readGoNames(t)
	for file, comments := range names.comments {
		pkg := names.pkgOf[file]
		for _, c := range comments {
			for _, m := range docLink.FindAllStringSubmatch(c, -1) {
				link := strings.TrimPrefix(m[1], "*")
				a, b, qualified := strings.Cut(link, ".")
				ok := false
				switch {
				case !qualified:
					ok = names.pkgs[pkg][a] || foreign[a]
				case foreign[a]:
					ok = true
				case names.pkgs[a] != nil && a != pkg:
					ok = names.pkgs[a][b]
				default:
					ok = names.members[a][b]
				}
				if !ok {
					t.Errorf("%s: doc link [%s] names nothing declared", file, m[1])
				}
			}
		}
	}
}
