global using Appliance.Testing;
