package api

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/podnet/podnet/api/resource"
)

// maxBody matches kube-apiserver's limit on request bodies (3 MiB).
const maxBody = 3 << 20

// fieldValidation is the fieldValidation query parameter: what to do with unknown or duplicate
// fields in a request body.
type fieldValidation string

const (
	validationIgnore fieldValidation = "Ignore"
	validationWarn   fieldValidation = "Warn"
	validationStrict fieldValidation = "Strict"
)

func fieldValidationOf(r *http.Request) (fieldValidation, error) {
	switch v := fieldValidation(r.URL.Query().Get("fieldValidation")); v {
	case "":
		return validationWarn, nil
	case validationIgnore, validationWarn, validationStrict:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation parameter unsupported: %v. Supported parameters include: Ignore, Warn, Strict", v))
	}
}

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	if len(data) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError("limit is 3145728")
	}
	return data, nil
}

// bodyJSON returns a create/update body as JSON, converting YAML (duplicate keys are an error in
// strict YAML, matching the JSON check).
func bodyJSON(r *http.Request, data []byte) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "", "application/json", "*/*":
		return data, nil
	case "application/yaml":
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return j, nil
	}
	return nil, unsupportedMediaType()
}

func unsupportedMediaType() error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
		"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", 0, false)
}

const protobufType = "application/vnd.kubernetes.protobuf"

// protobufCodec decodes the protobuf bodies client-go's typed clients send (kubectl create
// service, for one). Protobuf has no unknown or duplicate fields to report.
var protobufCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

func isProtobuf(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == protobufType
}

func decodeProtobuf(info *resource.Info, data []byte) (runtime.Object, error) {
	gvk := info.GVK()
	obj, _, err := protobufCodec.Decode(data, &gvk, info.New())
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
	}
	return obj, checkTypeMeta(obj, gvk)
}

// decodeInto decodes JSON into a new object of info's kind, applying fieldValidation. Strict
// problems are returned as warnings (Warn), an error (Strict) or dropped (Ignore), in
// kube-apiserver's words.
func decodeInto(info *resource.Info, gvk schema.GroupVersionKind, data []byte, fv fieldValidation) (runtime.Object, []string, error) {
	obj := info.New()
	strictErrs, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
	}
	if err := checkTypeMeta(obj, gvk); err != nil {
		return nil, nil, err
	}
	if len(strictErrs) == 0 || fv == validationIgnore {
		return obj, nil, nil
	}
	msgs := make([]string, len(strictErrs))
	for i, e := range strictErrs {
		msgs[i] = e.Error()
	}
	if fv == validationStrict {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s",
			gvk.Kind, gvk.Version, gvk.Kind, strings.Join(msgs, ", ")))
	}
	return obj, msgs, nil
}

// checkTypeMeta fills a missing apiVersion/kind from the URL and refuses a different one.
func checkTypeMeta(obj runtime.Object, want schema.GroupVersionKind) error {
	got := obj.GetObjectKind().GroupVersionKind()
	if got.Kind != "" && got.Kind != want.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, want.Kind))
	}
	if (got.Version != "" || got.Group != "") && got.GroupVersion() != want.GroupVersion() {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)",
			got.GroupVersion().String(), want.GroupVersion().String()))
	}
	obj.GetObjectKind().SetGroupVersionKind(want)
	return nil
}

// writeWarnings adds Warning headers as kube-apiserver does for fieldValidation=Warn.
func writeWarnings(w http.ResponseWriter, msgs []string) {
	for _, m := range msgs {
		w.Header().Add("Warning", fmt.Sprintf("299 - %s", quoteWarning(m)))
	}
}

func quoteWarning(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// accept says what representation the client asked for.
type accept int

const (
	acceptObject accept = iota
	acceptTable
	acceptMetadata
)

func acceptOf(r *http.Request) accept {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt != "application/json" && mt != "*/*" {
			continue // protobuf and others: we answer JSON, the next entry says how
		}
		switch params["as"] {
		case "Table":
			if params["g"] == metav1.GroupName && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return acceptTable
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == metav1.GroupName {
				return acceptMetadata
			}
		case "":
			return acceptObject
		}
	}
	return acceptObject
}
