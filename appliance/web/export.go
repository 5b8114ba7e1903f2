package web

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"

	"github.com/edgetriage/edgetriage/appliance/bundle"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// BundleExporter streams an export bundle of the item to the investigator,
// for Deps.Export; the export is in the custody chain before the first
// byte leaves.
func BundleExporter(v *vault.Vault) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		dg, err := evidence.ParseDigest(r.PathValue("digest"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		dir, err := os.MkdirTemp(filepath.Join(v.Dir(), "tmp"), "export-")
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, dg.String()+".bundle")
		if err := bundle.Export(r.Context(), v, dg, out, p.Actor(), exportReason(r.Context())); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, bundle.ErrNotStored) {
				status = http.StatusGone
			}
			writeError(w, status, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+dg.String()[:16]+`.bundle"`)
		http.ServeFile(w, r, out)
	})
}
