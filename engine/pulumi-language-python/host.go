package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// userErrorShown is the exit code the executor uses after it has already reported the user's error through the
// engine: the run fails, but the host adds no second message.
const userErrorShown = 32

// executorName is the script, installed next to this binary, that runs a program inside the Pulumi runtime.
const executorName = "pulumi-language-python-exec"

// runtimeModuleName is the Python module, installed next to this binary, that the executor imports and that
// runs policy packs (see replstack_runtime.py).
const runtimeModuleName = "replstack_runtime.py"

// pythonHost serves the LanguageRuntime service for Python projects.
type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	executor      string

	mu       sync.Mutex
	running  map[*exec.Cmd]*runState
	stopping bool // set once the host stops: nothing new starts
}

// runState is what the host knows of one process it runs.
type runState struct {
	cancelled bool // the engine cancelled the run while the process ran
}

func newPythonHost(engineAddress, executor string) *pythonHost {
	return &pythonHost{engineAddress: engineAddress, executor: executor, running: map[*exec.Cmd]*runState{}}
}

// runtimeModule is the path of replstack_runtime.py, beside the executor.
func (h *pythonHost) runtimeModule() string {
	return filepath.Join(filepath.Dir(h.executor), runtimeModuleName)
}

// findExecutor locates the executor beside the (symlink-resolved) host binary, where the setup installs it,
// with the runtime module it imports.
func findExecutor() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot locate the language host binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	executor := filepath.Join(filepath.Dir(self), executorName)
	for _, path := range []string{executor, filepath.Join(filepath.Dir(self), runtimeModuleName)} {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("missing %s: run the project's setup again", path)
		}
	}
	return executor, nil
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPlugins and GetRequiredPackages report nothing: every provider this project uses is installed by
// the setup and found on PATH when a resource first needs it, so the engine has nothing to pre-install (and
// must never try to download anything).
func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// Run executes the program through the executor and maps its exit status onto the engine's contract. A run the
// engine cancelled bails: the engine reports the cancellation itself.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	env, err := resolvePython(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	config, err := json.Marshal(nonNilMap(req.GetConfig()))
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(nonNil(req.GetConfigSecretKeys()))
	if err != nil {
		return nil, err
	}

	args := []string{"-u", h.executor,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--root_directory", info.GetRootDirectory(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--pwd", req.GetPwd(),
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--organization", req.GetOrganization(),
		programPath(info),
	}
	args = append(args, req.GetArgs()...)

	cmd := exec.Command(env.python, args...) //nolint:gosec // the interpreter comes from the project's settings
	cmd.Dir = req.GetPwd()
	cmd.Env = append(env.environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	cancelled, err := h.runTracked(ctx, cmd)
	if cancelled {
		return &pulumirpc.RunResponse{Bail: true}, nil
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == userErrorShown {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("the Python program exited with code %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s: %v", env.python, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a plugin written in Python. Policy packs are the one kind the engine asks this of: it runs
// `python replstack_runtime.py policy ENGINE PACK_DIR` (the SDK's pulumi.policy module, ending with this host)
// and streams the output back, the port line first. The pack stops when the engine ends the stream.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if req.GetKind() != "analyzer" {
		return fmt.Errorf("this language host runs Python policy packs only, not %q plugins", req.GetKind())
	}
	info := req.GetInfo()
	env, err := resolvePython(info)
	if err != nil {
		return err
	}

	args := append([]string{"-u", h.runtimeModule(), "policy"}, req.GetArgs()...)
	args = append(args, programPath(info))
	cmd := exec.Command(env.python, args...) //nolint:gosec // the interpreter comes from the pack's settings
	cmd.Dir = req.GetPwd()
	cmd.Env = append(env.environ(), req.GetEnv()...)
	cmd.Stdout = &streamWriter{send: func(b []byte) error {
		return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}}
	cmd.Stderr = &streamWriter{send: func(b []byte) error {
		return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}

	code := 0
	if _, err := h.runTracked(stream.Context(), cmd); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run the policy pack with %s: %w", env.python, err)
		}
		code = exitErr.ExitCode()
	}
	return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

// InstallDependencies checks that the virtualenv exists; installing it is the project's setup step, which pins
// and caches it, so the engine never runs pip behind the user's back.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	env, err := resolvePython(req.GetInfo())
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Python dependencies are provided by %s (installed by the project's setup)\n", env.python)
	return stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(msg)})
}

func (h *pythonHost) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	env, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(env.python, "--version").Output() //nolint:gosec
	if err != nil {
		return nil, fmt.Errorf("could not run %s --version: %w", env.python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: env.python,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "Python "),
	}, nil
}

func (h *pythonHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	env, err := resolvePython(req.GetInfo())
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(env.python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check") //nolint:gosec
	cmd.Env = env.environ()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("could not list the virtualenv's packages: %w", err)
	}
	var packages []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out, &packages); err != nil {
		return nil, fmt.Errorf("could not read pip's package list: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(packages))
	for _, p := range packages {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// Cancel stops every program or plugin this host runs (SIGTERM, which the executor answers by exiting at once
// and without a traceback), so that a cancelled update stops promptly and leaves no Python process behind.
func (h *pythonHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd, state := range h.running {
		state.cancelled = true
		signalGroup(cmd, syscall.SIGTERM)
	}
	return &emptypb.Empty{}, nil
}

// stopAll kills every process group this host started and refuses to start more: the host is going away.
func (h *pythonHost) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
	for cmd := range h.running {
		signalGroup(cmd, syscall.SIGKILL)
	}
}

// runTracked runs cmd in its own process group until it exits, killing the group if ctx ends first (the engine
// gave up on the call), and says whether the engine cancelled the run meanwhile.
func (h *pythonHost) runTracked(ctx context.Context, cmd *exec.Cmd) (cancelled bool, err error) {
	ownProcessGroup(cmd)
	state := &runState{}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		return false, errors.New("the language host is stopping")
	}
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		return false, err
	}
	h.running[cmd] = state
	h.mu.Unlock()

	stopOnDone := context.AfterFunc(ctx, func() { signalGroup(cmd, syscall.SIGKILL) })
	err = cmd.Wait()
	stopOnDone()

	h.mu.Lock()
	delete(h.running, cmd)
	cancelled = state.cancelled
	h.mu.Unlock()
	return cancelled, err
}

// programPath is the program to run: the entry point inside the program directory ("." means the directory
// itself, whose __main__.py runpy executes).
func programPath(info *pulumirpc.ProgramInfo) string {
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	return filepath.Join(info.GetProgramDirectory(), entry)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// streamWriter adapts a gRPC stream to an io.Writer; each write becomes one message.
type streamWriter struct {
	mu   sync.Mutex
	send func([]byte) error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := make([]byte, len(p))
	copy(buf, p)
	if err := w.send(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
