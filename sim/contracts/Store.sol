// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// Storage-heavy calls: write `n` slots derived from a key, or clear them again, so the state grows
/// and shrinks; and calls that fail: a revert with a reason, and a loop that runs out of gas.
contract Store {
    mapping(uint256 => uint256) public slots; // slot 0

    function write(uint256 key, uint256 n) external {
        for (uint256 i = 0; i < n; i++) {
            slots[uint256(keccak256(abi.encode(key, i)))] = key + i + 1;
        }
    }

    function clear(uint256 key, uint256 n) external {
        for (uint256 i = 0; i < n; i++) {
            delete slots[uint256(keccak256(abi.encode(key, i)))];
        }
    }

    function fail() external pure {
        revert("always fails");
    }

    function burn() external {
        uint256 i;
        while (true) {
            slots[i] = i;
            i++;
        }
    }
}
