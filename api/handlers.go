package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	ri, err := parseRequest(r)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	switch ri.subresource {
	case "", "status":
		err = s.serveObject(w, r, ri)
	case "scale":
		err = s.serveScale(w, r, ri)
	case "log", "exec", "attach":
		err = s.serveStream(w, r, ri)
	default:
		err = apierrors.NewNotFound(schema.GroupResource{Group: ri.info.GVR.Group, Resource: ri.info.GVR.Resource + "/" + ri.subresource}, ri.name)
	}
	if err != nil {
		writeError(w, s.log, err)
	}
}

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	if ri.subresource == "status" && ri.verb != "get" && ri.verb != "update" && ri.verb != "patch" {
		return apierrors.NewMethodNotSupported(ri.info.GroupResource(), ri.verb)
	}
	switch ri.verb {
	case "get":
		obj, err := s.reg.Get(ri.info, ri.namespace, ri.name)
		if err != nil {
			return err
		}
		return s.writeObject(w, r, http.StatusOK, ri.info, obj)
	case "list":
		return s.list(w, r, ri)
	case "watch":
		return s.watch(w, r, ri)
	case "create":
		return s.create(w, r, ri)
	case "update":
		return s.update(w, r, ri)
	case "patch":
		return s.patch(w, r, ri)
	case "delete":
		return s.delete(w, r, ri)
	case "deletecollection":
		return s.deleteCollection(w, r, ri)
	}
	return apierrors.NewMethodNotSupported(ri.info.GroupResource(), ri.verb)
}

// listOptions parses labelSelector and fieldSelector, refusing fields the resource cannot select on.
func listOptions(r *http.Request, info *resource.Info) (registry.ListOptions, error) {
	q := r.URL.Query()
	var opts registry.ListOptions
	var err error
	if opts.Labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return opts, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if opts.Fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return opts, apierrors.NewBadRequest(err.Error())
	}
	known := info.FieldSet(info.New())
	for _, req := range opts.Fields.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return opts, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := listOptions(r, ri.info)
	if err != nil {
		return err
	}
	objs, rv, err := s.reg.List(ri.info, ri.namespace, opts)
	if err != nil {
		return err
	}
	return s.writeList(w, r, ri.info, objs, rv)
}

func writeOptions(r *http.Request) (registry.WriteOptions, error) {
	switch dr := r.URL.Query()["dryRun"]; {
	case len(dr) == 0:
		return registry.WriteOptions{}, nil
	case len(dr) == 1 && dr[0] == metav1.DryRunAll:
		return registry.WriteOptions{DryRun: true}, nil
	default:
		return registry.WriteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %v", dr))
	}
}

// decodeRequest reads and decodes a create or update body.
func (s *Server) decodeRequest(r *http.Request, info *resource.Info) (runtime.Object, []string, error) {
	fv, err := fieldValidationOf(r)
	if err != nil {
		return nil, nil, err
	}
	data, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	if isProtobuf(r) {
		obj, err := decodeProtobuf(info, data)
		return obj, nil, err
	}
	if data, err = bodyJSON(r, data); err != nil {
		return nil, nil, err
	}
	return decodeInto(info, info.GVK(), data, fv)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.decodeRequest(r, ri.info)
	if err != nil {
		return err
	}
	out, err := s.reg.Create(r.Context(), ri.info, ri.namespace, obj, opts)
	if err != nil {
		return err
	}
	writeWarnings(w, warnings)
	return s.writeObject(w, r, http.StatusCreated, ri.info, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.decodeRequest(r, ri.info)
	if err != nil {
		return err
	}
	out, err := s.reg.Update(r.Context(), ri.info, ri.namespace, ri.name, ri.subresource,
		func(runtime.Object) (runtime.Object, error) { return obj, nil }, opts)
	if err != nil {
		return err
	}
	writeWarnings(w, warnings)
	return s.writeObject(w, r, http.StatusOK, ri.info, out)
}

// deleteOptions merges a DeleteOptions body (kubectl sends one) with the query parameters.
func deleteOptions(r *http.Request) (metav1.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	data, err := readBody(r)
	if err != nil {
		return opts, err
	}
	if len(data) > 0 {
		if isProtobuf(r) {
			_, _, err = protobufCodec.Decode(data, nil, &opts)
		} else {
			err = json.Unmarshal(data, &opts)
		}
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	}
	q := r.URL.Query()
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if g := q.Get("gracePeriodSeconds"); g != "" {
		v, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", g))
		}
		opts.GracePeriodSeconds = &v
	}
	if o := q.Get("orphanDependents"); o != "" {
		v := o == "true"
		//lint:ignore SA1019 deprecated but still part of the API: older clients send it.
		opts.OrphanDependents = &v
	}
	if dr := q["dryRun"]; len(dr) > 0 {
		opts.DryRun = dr
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return opts, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"", *p))
		}
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	obj, gone, err := s.reg.Delete(r.Context(), ri.info, ri.namespace, ri.name, opts)
	if err != nil {
		return err
	}
	if !gone {
		return s.writeObject(w, r, http.StatusOK, ri.info, obj)
	}
	m, _ := meta.Accessor(obj)
	writeJSON(w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: ri.name, Group: ri.info.GVR.Group, Kind: ri.info.GVR.Resource, UID: types.UID(m.GetUID())},
	})
	return nil
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	sel, err := listOptions(r, ri.info)
	if err != nil {
		return err
	}
	objs, rv, err := s.reg.List(ri.info, ri.namespace, sel)
	if err != nil {
		return err
	}
	var deleted []runtime.Object
	for _, o := range objs {
		m, _ := meta.Accessor(o)
		out, _, err := s.reg.Delete(r.Context(), ri.info, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		deleted = append(deleted, out)
	}
	return s.writeList(w, r, ri.info, deleted, rv)
}
