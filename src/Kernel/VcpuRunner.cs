using System.Diagnostics;
using System.Runtime.InteropServices;
using SpecKit.Kernel.Native;

namespace SpecKit.Kernel;

/// <summary>
/// Runs KVM_RUN for one vCPU on a thread of its own and bounds it in time. When a run outlives
/// its timeout the caller kicks the thread the way api.rst's KVM_CAP_IMMEDIATE_EXIT describes:
/// set kvm_run.immediate_exit and send the thread a signal, so that KVM_RUN returns -EINTR
/// (KVM_EXIT_INTR) whether the signal lands before or during the ioctl; the kick repeats until
/// the ioctl is back. A run that does not come back even then leaves the vCPU wedged: the caller
/// gets its answer and the thread stays parked in the kernel, never blocking the test run.
/// </summary>
internal sealed unsafe class VcpuRunner : IDisposable
{
    private static readonly TimeSpan KickInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan KickGrace = TimeSpan.FromSeconds(2);

    private readonly int _vcpuFd;
    private readonly byte* _run;
    private readonly Thread _thread;
    private readonly SemaphoreSlim _go = new(0);
    private readonly SemaphoreSlim _done = new(0);
    private readonly ManualResetEventSlim _started = new();
    private volatile bool _stop;
    private int _tid;
    private int _rc;
    private int _errno;

    public VcpuRunner(int vcpuFd, byte* run, uint vcpuId)
    {
        _vcpuFd = vcpuFd;
        _run = run;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"KVM_RUN vCPU {vcpuId}" };
        _thread.Start();
        _started.Wait();
    }

    /// <summary>KVM_RUN has not come back from a kick: the vCPU is stuck in the kernel.</summary>
    public bool Wedged { get; private set; }

    /// <summary>KVM_RUN once: its return value and errno, and whether the watchdog had to kick it.</summary>
    public (int Rc, int Errno, bool Kicked) Run(TimeSpan timeout)
    {
        if (Wedged)
        {
            throw new InvalidOperationException("the vCPU is wedged in KVM_RUN");
        }

        _go.Release();
        if (_done.Wait(timeout))
        {
            return (_rc, _errno, false);
        }

        var kicking = Stopwatch.StartNew();
        do
        {
            Volatile.Write(ref _run[KvmRun.ImmediateExit], 1);
            Libc.Tgkill(Environment.ProcessId, _tid, KickSignal.Number);
            if (_done.Wait(KickInterval))
            {
                return (_rc, _errno, true);
            }
        }
        while (kicking.Elapsed < KickGrace);

        Wedged = true;
        return (-1, (int)Uapi.Errno.EINTR, true);
    }

    public void Dispose()
    {
        if (Wedged)
        {
            return;
        }

        _stop = true;
        _go.Release();
        _thread.Join();
        _go.Dispose();
        _done.Dispose();
        _started.Dispose();
    }

    private void Loop()
    {
        _tid = Libc.Gettid();
        KickSignal.EnsureInstalled();
        _started.Set();
        while (true)
        {
            _go.Wait();
            if (_stop)
            {
                return;
            }

            Volatile.Write(ref _run[KvmRun.ImmediateExit], 0);
            _rc = Libc.Ioctl(_vcpuFd, KvmIoctl.KVM_RUN, 0);
            _errno = _rc < 0 ? Marshal.GetLastPInvokeError() : 0;
            _done.Release();
        }
    }
}

/// <summary>
/// The signal that kicks a vCPU thread out of KVM_RUN. KVM only returns -EINTR for a signal
/// that is pending, and an ignored signal is never pending, so it needs a handler; the handler
/// is libc's getpid(), a native function that does nothing and is async-signal-safe, so no
/// managed code runs in signal context. SIGUSR1 (else SIGUSR2) is taken only if nobody in the
/// process handles it already.
/// </summary>
internal static unsafe class KickSignal
{
    private static readonly Lazy<int> Installed = new(Install);

    public static int Number => Installed.Value;

    public static void EnsureInstalled() => _ = Installed.Value;

    private static int Install()
    {
        var handler = NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "getpid");
        foreach (var signal in new[] { Libc.SIGUSR1, Libc.SIGUSR2 })
        {
            Sigaction old;
            if (Libc.Sigaction(signal, null, &old) != 0)
            {
                continue;
            }

            if (old.Handler == handler)
            {
                return signal;
            }

            if (old.Handler != 0)
            {
                continue;
            }

            var act = new Sigaction { Handler = handler, Flags = Libc.SA_RESTART };
            if (Libc.Sigaction(signal, &act, null) == 0)
            {
                return signal;
            }
        }

        throw new InvalidOperationException("SIGUSR1 and SIGUSR2 are both taken in this process: nothing can kick a vCPU out of KVM_RUN");
    }
}
