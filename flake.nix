{
  description = "hotaru: a distributed game-server runtime for TypeScript on Effect v3";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          # Node 20 (the minimum supported), a C toolchain for better-sqlite3, and the services
          # the tests talk to: MariaDB, PostgreSQL, Redis, memcached.
          packages = with pkgs; [
            nodejs_20
            python3
            gnumake
            gcc
            mariadb
            postgresql
            redis
            memcached
          ];
        };
      });
    };
}
