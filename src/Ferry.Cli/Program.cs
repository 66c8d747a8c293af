return await Ferry.Cli.FerryCommand.RunAsync(args, Console.In, Console.Out, Console.Error, CancellationToken.None);
