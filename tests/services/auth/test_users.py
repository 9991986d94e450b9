"""Users and roles: creation against the seat quota, who may grant what, and the last-owner rule."""

from __future__ import annotations

import asyncio

import grpc

from avatarchat.auth.v1 import auth_pb2
from avatarchat.policy.v1 import policy_pb2
from avatarchat.tenant.v1 import tenant_pb2
from tests.errors_assert import expect_error
from tests.services.auth.conftest import add_user
from tests.services.conftest import PASSWORD, Account, Stack

DENIED = grpc.StatusCode.PERMISSION_DENIED


def set_role(name: str, role: int) -> auth_pb2.SetUserRoleRequest:
    """A SetUserRole request."""
    return auth_pb2.SetUserRoleRequest(name=name, role=role)  # type: ignore[arg-type]


async def seats_used(stack: Stack, account: Account) -> int:
    """The tenant's seat usage as the tenant service counts it."""
    limits = await stack.tenant.GetLimits(tenant_pb2.GetLimitsRequest(name=account.tenant), metadata=account.metadata)
    return next(u.used for u in limits.limits if u.kind == tenant_pb2.LIMIT_KIND_SEATS)


async def test_create_get_and_list_users(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    created = await stack.auth.CreateUser(
        auth_pb2.CreateUserRequest(
            parent=account.tenant,
            user=auth_pb2.User(
                email="  Ada@Example.COM ", display_name="Ada", role=policy_pb2.ROLE_ADMIN, password=PASSWORD
            ),
        ),
        metadata=account.metadata,
    )
    user = created.user
    assert user.name.startswith(account.tenant + "/users/")
    assert user.email == "ada@example.com"
    assert user.display_name == "Ada"
    assert user.role == policy_pb2.ROLE_ADMIN
    assert not user.password
    assert list(user.external_identities) == []
    got = await stack.auth.GetUser(auth_pb2.GetUserRequest(name=user.name), metadata=account.metadata)
    assert got.user == user
    await stack.login(account.slug, "ada@example.com")
    for _ in range(3):
        await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    seen: list[auth_pb2.User] = []
    token = ""
    while True:
        page = await stack.auth.ListUsers(
            auth_pb2.ListUsersRequest(parent=account.tenant, page_size=2, page_token=token), metadata=account.metadata
        )
        seen += page.users
        token = page.next_page_token
        if not token:
            break
    assert [u.name for u in seen][:2] == [account.owner, user.name]
    assert len(seen) == 5
    assert len({u.name for u in seen}) == 5


async def test_duplicate_email_is_already_exists_and_gives_the_seat_back(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    before = await seats_used(stack, account)
    await expect_error(
        stack.auth.CreateUser(
            auth_pb2.CreateUserRequest(
                parent=account.tenant, user=auth_pb2.User(email=account.email.upper(), role=policy_pb2.ROLE_MEMBER)
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "RESOURCE_ALREADY_EXISTS",
    )
    assert await seats_used(stack, account) == before


async def test_seat_limit_of_the_plan_is_enforced(stack: Stack) -> None:
    account = await stack.new_tenant()  # the free plan has two seats
    await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    exc = await expect_error(
        stack.auth.CreateUser(
            auth_pb2.CreateUserRequest(
                parent=account.tenant, user=auth_pb2.User(email="third@example.com", role=policy_pb2.ROLE_MEMBER)
            ),
            metadata=account.metadata,
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
    )
    assert "seats" in (exc.details() or "")
    assert await seats_used(stack, account) == 2


async def test_only_admins_manage_users_and_only_owners_make_owners(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    admin = await add_user(stack, account, policy_pb2.ROLE_ADMIN)
    member = await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    # Members read but do not manage.
    await stack.auth.ListUsers(auth_pb2.ListUsersRequest(parent=account.tenant), metadata=member.metadata)
    await expect_error(
        stack.auth.CreateUser(
            auth_pb2.CreateUserRequest(
                parent=account.tenant, user=auth_pb2.User(email="m2@example.com", role=policy_pb2.ROLE_MEMBER)
            ),
            metadata=member.metadata,
        ),
        DENIED,
        "PERMISSION_DENIED",
    )
    await expect_error(
        stack.auth.SetUserRole(set_role(admin.name, policy_pb2.ROLE_MEMBER), metadata=member.metadata), DENIED
    )
    # Admins manage members and admins, but not owners.
    await stack.auth.SetUserRole(set_role(member.name, policy_pb2.ROLE_ADMIN), metadata=admin.metadata)
    await stack.auth.SetUserRole(set_role(member.name, policy_pb2.ROLE_MEMBER), metadata=admin.metadata)
    await expect_error(
        stack.auth.SetUserRole(set_role(member.name, policy_pb2.ROLE_OWNER), metadata=admin.metadata), DENIED
    )
    await expect_error(
        stack.auth.SetUserRole(set_role(account.owner, policy_pb2.ROLE_ADMIN), metadata=admin.metadata), DENIED
    )
    await expect_error(
        stack.auth.CreateUser(
            auth_pb2.CreateUserRequest(
                parent=account.tenant, user=auth_pb2.User(email="o2@example.com", role=policy_pb2.ROLE_OWNER)
            ),
            metadata=admin.metadata,
        ),
        DENIED,
    )
    # Owners make owners; nobody but platform admins makes platform admins.
    promoted = await stack.auth.SetUserRole(set_role(admin.name, policy_pb2.ROLE_OWNER), metadata=account.metadata)
    assert promoted.user.role == policy_pb2.ROLE_OWNER
    await expect_error(
        stack.auth.SetUserRole(set_role(member.name, policy_pb2.ROLE_PLATFORM_ADMIN), metadata=account.metadata), DENIED
    )


async def test_a_tenant_always_keeps_an_owner(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    await expect_error(
        stack.auth.SetUserRole(set_role(account.owner, policy_pb2.ROLE_ADMIN), metadata=account.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    )
    second = await add_user(stack, account, policy_pb2.ROLE_OWNER)
    demoted = await stack.auth.SetUserRole(set_role(account.owner, policy_pb2.ROLE_MEMBER), metadata=second.metadata)
    assert demoted.user.role == policy_pb2.ROLE_MEMBER
    await expect_error(
        stack.auth.SetUserRole(set_role(second.name, policy_pb2.ROLE_ADMIN), metadata=second.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    # Setting an owner to owner again is fine.
    await stack.auth.SetUserRole(set_role(second.name, policy_pb2.ROLE_OWNER), metadata=second.metadata)


async def test_concurrent_owner_demotions_leave_one_owner(stack: Stack) -> None:
    account = await stack.new_tenant(plan="plans/pro")
    second = await add_user(stack, account, policy_pb2.ROLE_OWNER)
    results = await asyncio.gather(
        stack.auth.SetUserRole(set_role(second.name, policy_pb2.ROLE_MEMBER), metadata=account.metadata),
        stack.auth.SetUserRole(set_role(account.owner, policy_pb2.ROLE_MEMBER), metadata=second.metadata),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(failures) == 1
    assert failures[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    users = await stack.auth.ListUsers(auth_pb2.ListUsersRequest(parent=account.tenant), metadata=account.metadata)
    assert sum(u.role == policy_pb2.ROLE_OWNER for u in users.users) == 1


async def test_platform_admin_acts_in_any_tenant(stack: Stack) -> None:
    admin = await stack.platform_admin()
    account = await stack.new_tenant(plan="plans/pro")
    listed = await stack.auth.ListUsers(auth_pb2.ListUsersRequest(parent=account.tenant), metadata=admin.metadata)
    assert [u.name for u in listed.users] == [account.owner]
    member = await add_user(stack, account, policy_pb2.ROLE_MEMBER)
    raised = await stack.auth.SetUserRole(set_role(member.name, policy_pb2.ROLE_OWNER), metadata=admin.metadata)
    assert raised.user.role == policy_pb2.ROLE_OWNER
