package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// pythonEnv is the interpreter a project runs with, and the virtualenv it belongs to (empty for a plain python).
type pythonEnv struct {
	python     string
	virtualenv string
}

// resolvePython reads the project's `runtime.options` (Pulumi.yaml or PulumiPolicy.yaml): `virtualenv`, a path
// relative to the project root, selects that environment's interpreter; without it the host uses
// $PULUMI_PYTHON_CMD or python3. Only the pip toolchain is supported, because uv and poetry would resolve and
// install packages at run time.
func resolvePython(info *pulumirpc.ProgramInfo) (pythonEnv, error) {
	options := info.GetOptions().AsMap()
	if toolchain, _ := options["toolchain"].(string); toolchain != "" && toolchain != "pip" {
		return pythonEnv{}, fmt.Errorf(
			"runtime option toolchain=%q is not supported by this language host; allowed values: pip", toolchain)
	}

	if venv, _ := options["virtualenv"].(string); venv != "" {
		if !filepath.IsAbs(venv) {
			venv = filepath.Join(info.GetRootDirectory(), venv)
		}
		python := filepath.Join(venv, "bin", "python")
		if _, err := os.Stat(python); err != nil {
			return pythonEnv{}, fmt.Errorf(
				"the virtualenv %s named by runtime option virtualenv has no bin/python: run the project's setup", venv)
		}
		return pythonEnv{python: python, virtualenv: venv}, nil
	}

	command := os.Getenv("PULUMI_PYTHON_CMD")
	if command == "" {
		command = "python3"
	}
	python, err := exec.LookPath(command)
	if err != nil {
		return pythonEnv{}, fmt.Errorf("no Python interpreter %q on PATH: %w", command, err)
	}
	return pythonEnv{python: python}, nil
}

// environ is the process environment for the interpreter: inside a virtualenv, its bin directory comes first on
// PATH and PYTHONHOME is dropped, as an activated virtualenv would do.
func (e pythonEnv) environ() []string {
	env := os.Environ()
	if e.virtualenv == "" {
		return env
	}
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "PYTHONHOME="):
		case strings.HasPrefix(kv, "PATH="):
			out = append(out, "PATH="+filepath.Join(e.virtualenv, "bin")+string(os.PathListSeparator)+kv[len("PATH="):])
		case strings.HasPrefix(kv, "VIRTUAL_ENV="):
		default:
			out = append(out, kv)
		}
	}
	return append(out, "VIRTUAL_ENV="+e.virtualenv)
}
