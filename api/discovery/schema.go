package discovery

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// k8s.io/api has no generated OpenAPI definitions (those live in k8s.io/kubernetes, which cannot be
// imported), so component schemas are derived from the Go types by reflection: json tags give the
// property names, the generated SwaggerDoc methods the descriptions, and the patch struct tags the
// strategic-merge extensions. That is enough for `kubectl explain` and for anything that resolves
// a kind's schema by its x-kubernetes-group-version-kind.

// leafSchemas are the types whose JSON form differs from their Go structure (they marshal
// themselves); they become named schemas like upstream's.
var leafSchemas = map[reflect.Type]spec.Schema{
	reflect.TypeOf(metav1.Time{}):      stringSchema("date-time", "Time is a timestamp in RFC 3339 form, to the second."),
	reflect.TypeOf(metav1.MicroTime{}): stringSchema("date-time", "MicroTime is a timestamp in RFC 3339 form, to the microsecond."),
	reflect.TypeOf(metav1.Duration{}):  stringSchema("", "Duration is a time.Duration in its string form, such as \"1h2m3s\"."),
	reflect.TypeOf(resource.Quantity{}): stringSchema("", "Quantity is a fixed-point number with an optional SI or binary suffix, "+
		"such as \"100m\", \"1.5Gi\" or \"2\"."),
	reflect.TypeOf(intstr.IntOrString{}): {SchemaProps: spec.SchemaProps{
		Description: "IntOrString holds either an int32 or a string.",
		Format:      "int-or-string",
		OneOf:       []spec.Schema{*spec.Int64Property(), *spec.StringProperty()},
	}},
	reflect.TypeOf(runtime.RawExtension{}): objectSchema("RawExtension holds an embedded object in its own JSON form."),
	reflect.TypeOf(metav1.FieldsV1{}):      objectSchema("FieldsV1 stores a set of fields as a trie in JSON form."),
}

func stringSchema(format, description string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{
		Description: description, Type: spec.StringOrArray{"string"}, Format: format,
	}}
}

func objectSchema(description string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Description: description, Type: spec.StringOrArray{"object"}}}
}

// schemaSet collects named component schemas, each type once, with everything they reference.
type schemaSet struct {
	schemas map[string]*spec.Schema
}

func newSchemaSet() *schemaSet { return &schemaSet{schemas: map[string]*spec.Schema{}} }

// typeSchemaName is the component name of a named Go type.
func typeSchemaName(t reflect.Type) string { return schemaName(t.PkgPath(), t.Name()) }

// add registers the named struct (or leaf) type t and returns its component name.
func (s *schemaSet) add(t reflect.Type) (string, error) {
	name := typeSchemaName(t)
	if _, done := s.schemas[name]; done {
		return name, nil
	}
	if leaf, ok := leafSchemas[t]; ok {
		s.schemas[name] = &leaf
		return name, nil
	}
	if t.Kind() != reflect.Struct {
		return "", fmt.Errorf("schema for %s: only structs get named schemas", t)
	}
	if isSelfMarshalling(t) {
		return "", fmt.Errorf("schema for %s: the type marshals itself and has no known schema", t)
	}
	// Register before walking the fields so that recursive types terminate.
	sch := &spec.Schema{}
	s.schemas[name] = sch
	built, err := s.structSchema(t)
	if err != nil {
		return "", err
	}
	*sch = built
	return name, nil
}

func isSelfMarshalling(t reflect.Type) bool {
	marshaler := reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	return t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler)
}

// structSchema builds the object schema of a struct, inlining embedded ",inline" members.
func (s *schemaSet) structSchema(t reflect.Type) (spec.Schema, error) {
	docs := swaggerDocs(t)
	out := spec.Schema{SchemaProps: spec.SchemaProps{
		Description: docs[""], Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{},
	}}
	for i := 0; i < t.NumField(); i++ {
		if err := s.addField(&out, t.Field(i), docs); err != nil {
			return spec.Schema{}, fmt.Errorf("%s.%s: %w", t.Name(), t.Field(i).Name, err)
		}
	}
	return out, nil
}

func (s *schemaSet) addField(out *spec.Schema, f reflect.StructField, docs map[string]string) error {
	if !f.IsExported() {
		return nil
	}
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return nil
	}
	if name == "" && (f.Anonymous || opts == "inline") {
		return s.inline(out, f.Type)
	}
	if name == "" {
		name = f.Name
	}
	prop, err := s.fieldSchema(f.Type, docs[name])
	if err != nil {
		return err
	}
	addPatchExtensions(&prop, f.Tag)
	out.Properties[name] = prop
	// API conventions mark optional fields omitempty; the others are required.
	if !strings.Contains(opts, "omitempty") {
		out.Required = append(out.Required, name)
	}
	return nil
}

func (s *schemaSet) inline(out *spec.Schema, t reflect.Type) error {
	embedded, err := s.structSchema(derefType(t))
	if err != nil {
		return err
	}
	for k, v := range embedded.Properties {
		out.Properties[k] = v
	}
	out.Required = append(out.Required, embedded.Required...)
	return nil
}

func addPatchExtensions(prop *spec.Schema, tag reflect.StructTag) {
	if v := tag.Get("patchStrategy"); v != "" {
		prop.AddExtension("x-kubernetes-patch-strategy", v)
	}
	if v := tag.Get("patchMergeKey"); v != "" {
		prop.AddExtension("x-kubernetes-patch-merge-key", v)
	}
}

// fieldSchema is the schema of a property of type t: inline for scalars, arrays and maps, a
// reference for named structs (wrapped in allOf, since OpenAPI 3.0 ignores siblings of $ref).
func (s *schemaSet) fieldSchema(t reflect.Type, description string) (spec.Schema, error) {
	t = derefType(t)
	if _, leaf := leafSchemas[t]; leaf || t.Kind() == reflect.Struct {
		name, err := s.add(t)
		if err != nil {
			return spec.Schema{}, err
		}
		ref := spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(schemaRef(name))}}
		if description == "" {
			return ref, nil
		}
		return spec.Schema{SchemaProps: spec.SchemaProps{Description: description, AllOf: []spec.Schema{ref}}}, nil
	}
	out, err := s.unnamedSchema(t)
	out.Description = description
	return out, err
}

func (s *schemaSet) unnamedSchema(t reflect.Type) (spec.Schema, error) {
	switch t.Kind() {
	case reflect.Bool:
		return *spec.BoolProperty(), nil
	case reflect.String:
		return *spec.StringProperty(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return *spec.Int32Property(), nil
	case reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return *spec.Int64Property(), nil
	case reflect.Float32, reflect.Float64:
		return *spec.Float64Property(), nil
	case reflect.Slice, reflect.Array:
		return s.arraySchema(t)
	case reflect.Map:
		return s.mapSchema(t)
	case reflect.Interface:
		return objectSchema(""), nil
	}
	return spec.Schema{}, fmt.Errorf("no schema for Go type %s", t)
}

func (s *schemaSet) arraySchema(t reflect.Type) (spec.Schema, error) {
	if t.Elem().Kind() == reflect.Uint8 {
		return stringSchema("byte", ""), nil
	}
	items, err := s.fieldSchema(t.Elem(), "")
	if err != nil {
		return spec.Schema{}, err
	}
	return *spec.ArrayProperty(&items), nil
}

func (s *schemaSet) mapSchema(t reflect.Type) (spec.Schema, error) {
	values, err := s.fieldSchema(t.Elem(), "")
	if err != nil {
		return spec.Schema{}, err
	}
	return *spec.MapProperty(&values), nil
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// swaggerDocs returns the generated field descriptions of a k8s.io/api type, keyed by JSON name
// ("" describes the type itself), or nil when the type has none.
func swaggerDocs(t reflect.Type) map[string]string {
	type documented interface{ SwaggerDoc() map[string]string }
	if d, ok := reflect.New(t).Elem().Interface().(documented); ok {
		return d.SwaggerDoc()
	}
	return nil
}
