# Removes the unpacked binaries; Chocolatey removes the shims itself.
$ErrorActionPreference = 'Stop'
$toolsDir = Split-Path -Parent $MyInvocation.MyCommand.Definition
foreach ($name in @('op.exe', 'octopipeline.exe')) {
  $path = Join-Path $toolsDir $name
  if (Test-Path $path) { Remove-Item -Force $path }
}
