// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// A contract that exists for one transaction.
contract Child {
    constructor() payable {}

    function kill() external {
        selfdestruct(payable(msg.sender));
    }
}

/// Creates a child and has it self-destruct in the same transaction: under EIP-6780 the account
/// is then really deleted, storage and all.
contract Factory {
    event Ephemeral(address child);

    function createAndDestroy(bytes32 salt) external payable {
        Child child = new Child{salt: salt, value: msg.value}();
        child.kill();
        emit Ephemeral(address(child));
    }
}
