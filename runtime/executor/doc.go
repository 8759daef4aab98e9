// Package executor owns running a container from an OCI runtime-spec bundle: the built-in
// executor (`podnet init run`, PID 1 of the container, which applies config.json and execs the
// container's process), the OCI-binary executor (runc, crun) for the same bundle, and exec of an
// extra process into a running container with no more privilege than the container has.
package executor
