package discovery

import (
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// queryParam describes one query parameter an operation accepts.
type queryParam struct {
	typ         string
	description string
}

// queryParams are the query parameters podnet's operations declare, by name. kubectl reads
// fieldValidation on PATCH operations to decide whether the server validates fields itself.
var queryParams = map[string]queryParam{
	"pretty":       {"string", "If 'true', then the output is pretty printed."},
	"dryRun":       {"string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"},
	"fieldManager": {"string", "fieldManager is a name associated with the actor or entity that is making these changes."},
	"fieldValidation": {"string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) " +
		"containing unknown or duplicate fields. Valid values are Ignore, Warn and Strict."},
	"force":                {"boolean", "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests."},
	"allowWatchBookmarks":  {"boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
	"continue":             {"string", "The continue option should be set when retrieving more results from the server."},
	"fieldSelector":        {"string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."},
	"labelSelector":        {"string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."},
	"limit":                {"integer", "limit is a maximum number of responses to return for a list call."},
	"resourceVersion":      {"string", "resourceVersion sets a constraint on what resource versions a request may be served from."},
	"resourceVersionMatch": {"string", "resourceVersionMatch determines how resourceVersion is applied to list calls."},
	"sendInitialEvents":    {"boolean", "`sendInitialEvents=true` may be set together with `watch=true` to begin the watch stream with synthetic events."},
	"timeoutSeconds":       {"integer", "Timeout for the list/watch call."},
	"watch":                {"boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."},
	"gracePeriodSeconds":   {"integer", "The duration in seconds before the object should be deleted."},
	"orphanDependents":     {"boolean", "Deprecated: please use the PropagationPolicy."},
	"propagationPolicy":    {"string", "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."},
	"container":            {"string", "The container for which to stream logs, or in which to run the command."},
	"follow":               {"boolean", "Follow the log stream of the pod."},
	"limitBytes":           {"integer", "If set, the number of bytes to read from the server before terminating the log output."},
	"previous":             {"boolean", "Return previous terminated container logs."},
	"sinceSeconds":         {"integer", "A relative time in seconds before the current time from which to show logs."},
	"tailLines":            {"integer", "If set, the number of lines from the end of the logs to show."},
	"timestamps":           {"boolean", "If true, add an RFC3339 timestamp at the beginning of every line of log output."},
	"command":              {"string", "Command is the remote command to execute. argv array."},
	"stdin":                {"boolean", "Redirect the standard input stream of the pod for this call."},
	"stdout":               {"boolean", "Redirect the standard output stream of the pod for this call."},
	"stderr":               {"boolean", "Redirect the standard error stream of the pod for this call."},
	"tty":                  {"boolean", "TTY if true indicates that a tty will be allocated for the call."},
}

// Parameter lists per kind of operation, in upstream's (alphabetical) order.
var (
	writeParams  = []string{"dryRun", "fieldManager", "fieldValidation"}
	patchParams  = []string{"dryRun", "fieldManager", "fieldValidation", "force"}
	listParams   = []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}
	deleteParams = []string{"dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"}
	// deletecollection takes both the delete options and the list selectors.
	deleteCollectionParams = []string{"continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector", "limit", "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds"}
	logParams              = []string{"container", "follow", "limitBytes", "previous", "sinceSeconds", "tailLines", "timestamps"}
	execParams             = []string{"command", "container", "stderr", "stdin", "stdout", "tty"}
	attachParams           = []string{"container", "stderr", "stdin", "stdout", "tty"}
)

// query builds the named query parameters; every name must be in queryParams.
func query(names []string) []*spec3.Parameter {
	out := make([]*spec3.Parameter, 0, len(names))
	for _, name := range names {
		p := queryParams[name]
		out = append(out, parameter(name, "query", p.description, p.typ, false))
	}
	return out
}

func parameter(name, in, description, typ string, required bool) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: name, In: in, Description: description, Required: required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, UniqueItems: true}},
	}}
}

// pathParams are the parameters shared by every operation of a path: its {name} and {namespace}
// segments, and pretty.
func pathParams(kind string, named, namespaced bool) []*spec3.Parameter {
	var out []*spec3.Parameter
	if named {
		out = append(out, parameter("name", "path", "name of the "+kind, "string", true))
	}
	if namespaced {
		out = append(out, parameter("namespace", "path", "object name and auth scope, such as for teams and projects", "string", true))
	}
	return append(out, query([]string{"pretty"})...)
}
