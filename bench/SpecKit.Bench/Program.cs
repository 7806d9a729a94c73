using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/SpecKit.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
