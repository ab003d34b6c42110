package telemetry

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is one page, its script, its stylesheet and its icon,
// compiled into the binary: it needs no network beyond this server.
//
//go:embed web
var webFS embed.FS

// dashboardHTML is the page served at /.
var dashboardHTML = mustRead("web/index.html")

func mustRead(name string) []byte {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic("telemetry: embedded " + name + " missing: " + err.Error()) // a build mistake
	}
	return b
}

// assetHandler serves the files under web/ (the script, the stylesheet,
// the icon). Directory listings are refused.
func assetHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("telemetry: " + err.Error()) // a build mistake
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
