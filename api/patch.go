package api

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/podnet/podnet/api/resource"
)

// patchRequest is a parsed PATCH: its type, body and field validation.
type patchRequest struct {
	typ  types.PatchType
	body []byte
	fv   fieldValidation
}

func parsePatch(r *http.Request) (*patchRequest, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(ct)
	switch pt {
	case types.StrategicMergePatchType, types.MergePatchType, types.JSONPatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
			"server-side apply is not supported by podnet; use client-side kubectl apply", 0, false)
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType), 0, false)
	}
	fv, err := fieldValidationOf(r)
	if err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return &patchRequest{typ: pt, body: body, fv: fv}, nil
}

// apply patches the JSON form of cur. schema is a typed object of cur's kind: strategic merge
// patch reads its patch strategies (merge keys of lists) from the Go struct tags.
func (p *patchRequest) apply(cur []byte, schemaObj runtime.Object) ([]byte, error) {
	var out []byte
	var err error
	switch p.typ {
	case types.JSONPatchType:
		var patch jsonpatch.Patch
		if patch, err = jsonpatch.DecodePatch(p.body); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if out, err = patch.Apply(cur); err != nil {
			// A well-formed patch that cannot apply (a failed "test", a missing path): 422, as upstream.
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		out, err = jsonpatch.MergePatch(cur, p.body)
	case types.StrategicMergePatchType:
		out, err = strategicpatch.StrategicMergePatch(cur, p.body, schemaObj)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the request could not be patched: %v", err))
	}
	return out, nil
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	p, err := parsePatch(r)
	if err != nil {
		return err
	}
	var warnings []string
	out, err := s.reg.Update(r.Context(), ri.info, ri.namespace, ri.name, ri.subresource, func(cur runtime.Object) (runtime.Object, error) {
		obj, warns, err := patchObject(p, ri.info, cur)
		warnings = warns
		return obj, err
	}, opts)
	if err != nil {
		return err
	}
	writeWarnings(w, warnings)
	return s.writeObject(w, r, http.StatusOK, ri.info, out)
}

// patchObject applies p to cur and decodes the result with p's field validation.
func patchObject(p *patchRequest, info *resource.Info, cur runtime.Object) (runtime.Object, []string, error) {
	data, err := json.Marshal(cur)
	if err != nil {
		return nil, nil, err
	}
	patched, err := p.apply(data, info.New())
	if err != nil {
		return nil, nil, err
	}
	return decodeInto(info, info.GVK(), patched, p.fv)
}
